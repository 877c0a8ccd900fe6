/** Fresh secrets for a generated deployment (crypto.randomBytes; hex or base64url, so no quoting is ever needed). */
import { randomBytes, randomInt } from 'node:crypto';
import type { DeployOptions } from './options.js';

/** Every secret the deployment's files share; absent when the part is not configured. */
export interface DeploySecrets {
  /** OPENCALL_SECRET: the UserSig key, 64 hex characters like Tencent's. */
  secret: string;
  sdkAppId: number;
  adminToken: string;
  metricsToken: string;
  /** coturn static-auth-secret = OPENCALL_TURN_SECRET. */
  turnSecret?: string;
  /** Janus api_secret = OPENCALL_JANUS_SECRET. */
  janusApiSecret?: string;
  /** Janus admin_secret (the admin API stays off; this only replaces the well-known default). */
  janusAdminSecret?: string;
  redisPassword?: string;
  postgresPassword?: string;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const token = (bytes: number) => randomBytes(bytes).toString('base64url');

export function generateSecrets(o: DeployOptions): DeploySecrets {
  return {
    secret: hex(32),
    // Tencent SDKAppIDs are 14xxxxxxxx; a random one keeps deployments apart.
    sdkAppId: o.sdkAppId ?? randomInt(1_400_000_001, 1_500_000_000),
    adminToken: token(32),
    metricsToken: token(32),
    ...(o.turn && { turnSecret: hex(32) }),
    ...(o.sfu && { janusApiSecret: token(32), janusAdminSecret: token(32) }),
    ...(o.redis && { redisPassword: hex(32) }),
    ...(o.postgres && { postgresPassword: hex(24) }),
  };
}
