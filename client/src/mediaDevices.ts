/**
 * The browser's media devices: open a camera/microphone (`getUserMedia`) or a screen
 * (`getDisplayMedia`) with errors turned into sentences a person can act on, and list devices.
 * Each function opens one thing; what is open and sent lives in localMedia.ts.
 */

/** Thrown by the functions below; `message` is meant for the status line. */
export class MediaError extends Error {
  constructor(
    message: string,
    /** The DOMException name, e.g. `NotAllowedError`, `NotFoundError`. */
    readonly reason: string,
  ) {
    super(message);
    this.name = 'MediaError';
  }
}

/** True when this browser can share a screen (`navigator.mediaDevices.getDisplayMedia` exists). */
export function canShareScreen(): boolean {
  return typeof navigator.mediaDevices?.getDisplayMedia === 'function';
}

/** Human sentence for a getUserMedia/getDisplayMedia failure of `what` ("camera and microphone", "screen"). */
export function describeMediaError(err: unknown, what: string): string {
  const name = err instanceof DOMException || err instanceof Error ? err.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Permission to use the ${what} was denied. Allow it in the browser's site settings and try again.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${what} found.`;
    case 'NotReadableError':
    case 'AbortError':
      return `The ${what} could not be started: is another application using it?`;
    case 'TypeError':
      return `This page cannot use the ${what} (it needs HTTPS or localhost).`;
    default:
      return `Could not start the ${what}${err instanceof Error && err.message ? `: ${err.message}` : ''}.`;
  }
}

/** Devices to use; undefined = browser default. */
export interface DeviceChoice {
  audioDeviceId?: string;
  videoDeviceId?: string;
}

function audioConstraints(id?: string): MediaTrackConstraints | boolean {
  return id ? { deviceId: { exact: id } } : true;
}
function videoConstraints(id?: string): MediaTrackConstraints | boolean {
  return id ? { deviceId: { exact: id }, width: { ideal: 640 }, height: { ideal: 480 } } : { width: { ideal: 640 }, height: { ideal: 480 } };
}

/**
 * Open the camera and microphone. If both cannot be opened together, tries each alone, so a person
 * without a camera (or without a microphone) can still call.
 * @returns the stream (1 or 2 tracks) and, when only part worked, a warning sentence.
 * @throws MediaError when neither the camera nor the microphone can be opened.
 */
export async function openCameraAndMicrophone(choice: DeviceChoice = {}): Promise<{ stream: MediaStream; warning?: string }> {
  const md = navigator.mediaDevices;
  if (!md?.getUserMedia) throw new MediaError('This browser cannot use a camera or microphone here (it needs HTTPS or localhost).', 'TypeError');
  try {
    return { stream: await md.getUserMedia({ audio: audioConstraints(choice.audioDeviceId), video: videoConstraints(choice.videoDeviceId) }) };
  } catch (both) {
    if (both instanceof DOMException && both.name === 'NotAllowedError') throw new MediaError(describeMediaError(both, 'camera and microphone'), both.name);
    try {
      const stream = await md.getUserMedia({ audio: audioConstraints(choice.audioDeviceId) });
      return { stream, warning: `${describeMediaError(both, 'camera')} Calling with sound only.` };
    } catch {
      try {
        const stream = await md.getUserMedia({ video: videoConstraints(choice.videoDeviceId) });
        return { stream, warning: `${describeMediaError(both, 'microphone')} Calling without sound.` };
      } catch {
        throw new MediaError(describeMediaError(both, 'camera and microphone'), both instanceof Error ? both.name : 'Error');
      }
    }
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
  if (!canShareScreen()) throw new MediaError('This browser cannot share the screen.', 'NotSupportedError');
  try {
    const s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = s.getVideoTracks()[0];
    if (!track) throw new DOMException('no video track', 'NotFoundError');
    track.contentHint = 'detail';
    return track;
  } catch (err) {
    if (err instanceof DOMException && err.name === 'NotAllowedError') throw new MediaError('Screen sharing was cancelled or not allowed.', err.name);
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
