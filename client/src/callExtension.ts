/**
 * How a feature on top of the call (safety number, file transfer, recording, quality) follows the
 * call without the call knowing it: the call tells every registered {@link CallExtension} about
 * its peer connections, the other person coming and going, and the room messages of the feature
 * types; an extension sends its own room messages with {@link CallRoom.sendRoomMessage}. No DOM.
 */
import type { NetQualityMessage, RecordingMessage, VerifiedMessage } from '../../contracts/signaling.js';
import type { PeerSession } from './peerSession.js';

/** Room messages of the features (validated by the signaling contract; relayed like the media state). */
export type ExtensionMessage = VerifiedMessage | RecordingMessage | NetQualityMessage;

/** What the call tells an extension; every method is optional. */
export interface CallExtension {
  /** Join was pressed (true) or the call ended (false): the page shows or hides in-call blocks. */
  inRoom?(inRoom: boolean): void;
  /** A new peer connection was made (the previous one, if any, is closed already). */
  peerCreated?(peer: PeerSession): void;
  /** The current connection's `connectionState` changed. */
  peerConnectionState?(peer: PeerSession, state: RTCPeerConnectionState): void;
  /** The current connection was closed and none replaces it yet. */
  peerClosed?(): void;
  /** The remote stream shown to the person (a new one per connection). */
  remoteStream?(stream: MediaStream): void;
  /** The other person is (again) in the room: send the state they should know. */
  otherArrived?(): void;
  /** The other person left the room (or their seat expired). */
  otherLeft?(): void;
  /** We are leaving the room (Leave, hang-up, room full, fatal error): messages sent now still reach the other person. */
  left?(): void;
  /** Our open tracks changed (new microphone, camera ↔ screen). */
  tracksChanged?(): void;
  /** A feature message from the other person. */
  message?(data: ExtensionMessage): void;
}

/** The part of the call an extension uses. */
export interface CallRoom {
  /** The current peer connection, or null. */
  readonly peer: PeerSession | null;
  /** True from Join until Leave. */
  readonly inRoom: boolean;
  /** True while the other person holds the other seat. */
  readonly otherPresent: boolean;
  /** Send a feature message to the other person over the room (dropped when not in a room). */
  sendRoomMessage(data: ExtensionMessage): void;
  /** Follow the call. */
  addExtension(ext: CallExtension): void;
}

/** True for the payload types of {@link ExtensionMessage}. */
export function isExtensionMessage(data: { type: string }): data is ExtensionMessage {
  return data.type === 'verified' || data.type === 'recording' || data.type === 'netQuality';
}
