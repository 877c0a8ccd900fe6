/** @opencall/server: the signaling server of OpenCall. */
export { startServer, type RunningServer } from './server.js';
export { loadConfigFromEnv, type ServerOptions, type EnvConfig } from './config.js';
export { genUserSig, verifyUserSig, isValidUserID, type UserSigFailure } from './auth/usersig.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
export { MemoryGroupStore, type GroupStore } from './groups/group-store.js';
export { MissingPackageError, type OptionalPackage } from './optional-packages.js';
