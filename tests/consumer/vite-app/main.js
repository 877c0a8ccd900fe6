// A user's app: the SDK from the installed package, resolved and bundled by Vite.
// The test opens /?userID=…&userSig=…&SDKAppID=…; the signaling server is this page's origin.
import TRTCCalling from '@opencall/client';

const params = new URLSearchParams(location.search);
const userID = params.get('userID');
const calling = new TRTCCalling({ SDKAppID: Number(params.get('SDKAppID')), serverUrl: location.origin });
const E = TRTCCalling.EVENT;

window.calling = calling;
window.seen = [];
window.errors = [];
for (const name of new Set(Object.values(E))) calling.on(name, () => window.seen.push(name));
calling.on(E.ERROR, (e) => window.errors.push(`${e.code} ${e.message}`));
// The callee answers at once and shows itself.
calling.on(E.INVITED, async () => {
  await calling.accept();
  await calling.startLocalView({ userID, videoViewDomID: 'local' });
});
calling.on(E.USER_ENTER, ({ userID: peer }) => calling.startRemoteView({ userID: peer, videoViewDomID: 'remote' }));

/** Called by the test: video call to `peer`. */
window.callUser = async (peer) => {
  await calling.call({ userID: peer, type: 2 });
  await calling.startLocalView({ userID, videoViewDomID: 'local' });
};

window.loggedIn = calling.login({ userID, userSig: params.get('userSig') }).then(() => true);
