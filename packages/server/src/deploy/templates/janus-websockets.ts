import type { TemplateContext } from './context.js';

/** janus.transport.websockets.jcfg: the Janus API on one private address, for OpenCall only; admin API off. */
export function janusWebsockets(c: TemplateContext): string {
  const { o } = c;
  return `# Janus API over plain WebSocket, for the OpenCall server only (OPENCALL_JANUS_URL).
# Browsers never reach it: keep it on loopback or a private address, never public.
general: {
	events = false
	json = "plain"
	pingpong_trigger = 30
	pingpong_timeout = 10

	ws = true
	ws_port = ${o.janusPort}
	ws_ip = "${o.janusIp}"
	# The only client address allowed (prefix match): the OpenCall server's.
	ws_acl = "${o.janusAcl}"
	wss = false
}

# No admin API on any address.
admin: {
	admin_ws = false
	admin_wss = false
}

cors: {
}

certificates: {
}
`;
}
