/**
 * The call page's features on top of the call: the safety number, file transfer, recording with
 * the other person's knowledge, and the quality block (send quality, audio processing, network
 * quality). Each follows the call as a {@link CallExtension}; this module creates them, binds their
 * blocks of the page (sections appended to index.html) and shows those blocks during a call.
 */
import './extras.css';
import type { CallExtension, CallRoom } from './callExtension.js';
import { byId } from './callPage.js';
import { CallRecorder } from './callRecorder.js';
import { FileTransfers } from './fileTransfer.js';
import { FileTransferView } from './fileTransferView.js';
import type { Msg } from './i18n/index.js';
import type { LocalMedia } from './localMedia.js';
import { NetQualityMonitor } from './netQuality.js';
import type { PeerSession } from './peerSession.js';
import { QualityBlock } from './qualityView.js';
import { RecordingView } from './recordingView.js';
import { SafetyCheck } from './safety.js';
import { SafetyBlock } from './safetyView.js';
import { SendQuality } from './sendQuality.js';

/** The features of a page (also the debug/test handle `window.__call.extras`). */
export interface CallExtras {
  safety: SafetyCheck;
  files: FileTransfers;
  recorder: CallRecorder;
  quality: SendQuality;
  net: NetQualityMonitor;
}

/**
 * Create the features for `call` and bind them to the page.
 * @param warn   shows a sentence on the page's warning line.
 * @param log    the call's event log.
 * @throws Error when the page lacks one of the blocks' elements.
 */
export function startCallExtras(call: CallRoom, media: LocalMedia, warn: (text: Msg) => void, log: (msg: string) => void = (m) => console.log(`[extras] ${m}`)): CallExtras {
  const sections = ['safety', 'files', 'recordingPanel', 'qualityPanel'].map((id) => byId(id));
  const recordingPanel = byId('recordingPanel');
  const download = byId<HTMLAnchorElement>('recordingDownload');

  const safety = new SafetyCheck(
    call,
    new SafetyBlock({ safetyNumber: byId('safetyNumber'), verify: byId('verify'), peer: byId('safetyPeer'), changed: byId('safetyChanged') }),
    log,
  );
  byId<HTMLButtonElement>('verify').addEventListener('click', () => safety.setVerified(!safety.state.verifiedByMe));

  let fileView: FileTransferView | undefined = undefined;
  const files = new FileTransfers(call, { changed: (t) => fileView?.update(t), log });
  fileView = new FileTransferView(
    { section: byId('files'), sendFile: byId('sendFile'), fileInput: byId('fileInput'), transfers: byId('transfers'), warn },
    () => files,
    () => call.inRoom,
  );

  let recordingView: RecordingView | undefined = undefined;
  const recorder = new CallRecorder(call, () => media.audioTrack, {
    localChanged: (startedAt) => recordingView?.localChanged(startedAt),
    finished: (rec) => {
      recordingView?.finished(rec);
      recordingPanel.hidden = false;
    },
    remoteChanged: (on) => recordingView?.remoteChanged(on),
    unmixed: () => recordingView?.unmixed(),
    log,
  });
  recordingView = new RecordingView(
    { record: byId('record'), timer: byId('recordingTimer'), download, hint: byId('recordingPanel').querySelector('.hint')!, notice: byId('recordingNotice'), warn },
    () => recorder,
  );

  const quality = new SendQuality(call, media, log);
  const qualityBlock = new QualityBlock(
    {
      quality: byId('quality'),
      noiseSuppression: byId('noiseSuppression'),
      noiseSuppressionLabel: byId('noiseSuppressionLabel'),
      echoCancellation: byId('echoCancellation'),
      echoCancellationLabel: byId('echoCancellationLabel'),
      netQuality: byId('netQuality'),
      warn,
    },
    () => quality,
  );
  const net = new NetQualityMonitor(call, (s) => qualityBlock.showNet(s));

  // Blocks show during a call (the recording block also while a recording waits to be downloaded);
  // buttons that need a connected call follow the connection.
  const connected = (peer: PeerSession | null) => !!peer && !peer.closed && peer.connectionState === 'connected';
  const refresh = () => {
    const ready = connected(call.peer);
    for (const s of sections) s.hidden = !call.inRoom && !(s === recordingPanel && !download.hidden);
    fileView?.setReady(ready);
    recordingView?.setReady(ready, recorder.recording);
  };
  const visibility: CallExtension = {
    inRoom: refresh,
    peerCreated: refresh,
    peerConnectionState: refresh,
    peerClosed: refresh,
    otherLeft: refresh,
    otherArrived: refresh,
  };
  for (const ext of [safety, files, recorder, quality, net, visibility]) call.addExtension(ext);
  refresh();
  return { safety, files, recorder, quality, net };
}
