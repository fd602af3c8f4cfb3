/**
 * The browser's media devices: open a camera/microphone (`getUserMedia`) or a screen
 * (`getDisplayMedia`) with errors turned into sentences a person can act on, and list devices.
 * Each function opens one thing; what is open and sent lives in localMedia.ts.
 */
import { msg, render, type Msg } from './i18n/index.js';

/** Thrown by the functions below; {@link MediaError.text} is meant for the status line (`message` is it in the language of the moment, for logs). */
export class MediaError extends Error {
  constructor(
    /** What went wrong and what to do, as a message. */
    readonly text: Msg,
    /** The DOMException name, e.g. `NotAllowedError`, `NotFoundError`. */
    readonly reason: string,
  ) {
    super(render(text));
    this.name = 'MediaError';
  }
}

/** What a media error is about. */
export type MediaKind = 'camera' | 'microphone' | 'cameraAndMicrophone' | 'screen';

/** True when this browser can share a screen (`navigator.mediaDevices.getDisplayMedia` exists). */
export function canShareScreen(): boolean {
  return typeof navigator.mediaDevices?.getDisplayMedia === 'function';
}

/** The sentence for a getUserMedia/getDisplayMedia failure of `what`: what happened and what to do. */
export function describeMediaError(err: unknown, what: MediaKind): Msg {
  const name = err instanceof DOMException || err instanceof Error ? err.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return msg(`media.notAllowed.${what}`);
    case 'NotFoundError':
    case 'OverconstrainedError':
      return msg(`media.notFound.${what}`);
    case 'NotReadableError':
    case 'AbortError':
      return msg(`media.notReadable.${what}`);
    case 'TypeError':
      return msg(`media.insecure.${what}`);
    default:
      return msg(`media.other.${what}`, { detail: err instanceof Error && err.message ? err.message : String(name || err) });
  }
}

/** Devices to use; undefined = browser default. */
export interface DeviceChoice {
  audioDeviceId?: string;
  videoDeviceId?: string;
}

/**
 * Audio processing asked of every microphone opened from now on (unset: the browser's defaults);
 * set by the quality block's noise-suppression and echo-cancellation switches.
 */
export const audioProcessing: { noiseSuppression?: boolean; echoCancellation?: boolean } = {};

function audioConstraints(id?: string): MediaTrackConstraints | boolean {
  const c: MediaTrackConstraints = { ...audioProcessing };
  if (id) c.deviceId = { exact: id };
  return Object.keys(c).length > 0 ? c : true;
}
function videoConstraints(id?: string): MediaTrackConstraints | boolean {
  return id ? { deviceId: { exact: id }, width: { ideal: 640 }, height: { ideal: 480 } } : { width: { ideal: 640 }, height: { ideal: 480 } };
}

/**
 * Open the camera and microphone. If both cannot be opened together, tries each alone, so a person
 * without a camera (or without a microphone) can still call.
 * @returns the stream (1 or 2 tracks) and, when only part worked, warning sentences (what failed, how the call goes on).
 * @throws MediaError when neither the camera nor the microphone can be opened.
 */
export async function openCameraAndMicrophone(choice: DeviceChoice = {}): Promise<{ stream: MediaStream; warnings: Msg[] }> {
  const md = navigator.mediaDevices;
  if (!md?.getUserMedia) throw new MediaError(msg('media.noMediaDevices'), 'TypeError');
  try {
    return { stream: await md.getUserMedia({ audio: audioConstraints(choice.audioDeviceId), video: videoConstraints(choice.videoDeviceId) }), warnings: [] };
  } catch (both) {
    if (both instanceof DOMException && both.name === 'NotAllowedError') {
      // Refused together: one of the two may still be allowed (e.g. the camera blocked, the
      // microphone allowed). Ask only for one the browser says is granted: no second prompt.
      const [camera, microphone] = await Promise.all([permissionState('camera'), permissionState('microphone')]);
      if (microphone === 'granted' && camera !== 'granted') {
        const stream = await md.getUserMedia({ audio: audioConstraints(choice.audioDeviceId) }).catch(() => null);
        if (stream) return { stream, warnings: [describeMediaError(both, 'camera'), msg('media.soundOnly')] };
      } else if (camera === 'granted' && microphone !== 'granted') {
        const stream = await md.getUserMedia({ video: videoConstraints(choice.videoDeviceId) }).catch(() => null);
        if (stream) return { stream, warnings: [describeMediaError(both, 'microphone'), msg('media.noSound')] };
      }
      throw new MediaError(describeMediaError(both, 'cameraAndMicrophone'), both.name);
    }
    try {
      const stream = await md.getUserMedia({ audio: audioConstraints(choice.audioDeviceId) });
      return { stream, warnings: [describeMediaError(both, 'camera'), msg('media.soundOnly')] };
    } catch {
      try {
        const stream = await md.getUserMedia({ video: videoConstraints(choice.videoDeviceId) });
        return { stream, warnings: [describeMediaError(both, 'microphone'), msg('media.noSound')] };
      } catch {
        throw new MediaError(describeMediaError(both, 'cameraAndMicrophone'), both instanceof Error ? both.name : 'Error');
      }
    }
  }
}

/** The Permissions API state of `name`, or 'unknown' where the browser cannot tell (it throws for unknown names). */
async function permissionState(name: 'camera' | 'microphone'): Promise<PermissionState | 'unknown'> {
  try {
    return (await navigator.permissions.query({ name: name as PermissionName })).state;
  } catch {
    return 'unknown';
  }
}

/**
 * Open one camera (video only), e.g. to switch device or come back from screen sharing.
 * @throws MediaError with a readable message.
 */
export async function openCamera(deviceId?: string): Promise<MediaStreamTrack> {
  try {
    const s = await navigator.mediaDevices.getUserMedia({ video: videoConstraints(deviceId) });
    return s.getVideoTracks()[0]!;
  } catch (err) {
    throw new MediaError(describeMediaError(err, 'camera'), err instanceof Error ? err.name : 'Error');
  }
}

/**
 * Open one microphone (audio only).
 * @throws MediaError with a readable message.
 */
export async function openMicrophone(deviceId?: string): Promise<MediaStreamTrack> {
  try {
    const s = await navigator.mediaDevices.getUserMedia({ audio: audioConstraints(deviceId) });
    return s.getAudioTracks()[0]!;
  } catch (err) {
    throw new MediaError(describeMediaError(err, 'microphone'), err instanceof Error ? err.name : 'Error');
  }
}

/**
 * Ask for a screen (or window/tab) to share. Must be called from a click (user activation).
 * @returns the screen's video track.
 * @throws MediaError (e.g. the person cancelled the picker: `NotAllowedError`).
 */
export async function openScreen(): Promise<MediaStreamTrack> {
  if (!canShareScreen()) throw new MediaError(msg('media.cannotShareScreen'), 'NotSupportedError');
  try {
    const s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = s.getVideoTracks()[0];
    if (!track) throw new DOMException('no video track', 'NotFoundError');
    track.contentHint = 'detail';
    return track;
  } catch (err) {
    if (err instanceof DOMException && err.name === 'NotAllowedError') throw new MediaError(msg('media.screenCancelled'), err.name);
    throw new MediaError(describeMediaError(err, 'screen'), err instanceof Error ? err.name : 'Error');
  }
}

/** Stop every track of `stream` (null-safe). */
export function stopStream(stream: MediaStream | null | undefined): void {
  stream?.getTracks().forEach((t) => t.stop());
}

/** Input/output devices grouped by kind (labels are empty until a permission was granted). */
export async function listDevices(): Promise<{ microphones: MediaDeviceInfo[]; cameras: MediaDeviceInfo[]; speakers: MediaDeviceInfo[] }> {
  const all = navigator.mediaDevices?.enumerateDevices ? await navigator.mediaDevices.enumerateDevices() : [];
  return {
    microphones: all.filter((d) => d.kind === 'audioinput'),
    cameras: all.filter((d) => d.kind === 'videoinput'),
    speakers: all.filter((d) => d.kind === 'audiooutput'),
  };
}
