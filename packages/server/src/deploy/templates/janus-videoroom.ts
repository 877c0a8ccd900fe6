import type { TemplateContext } from './context.js';

/** janus.plugin.videoroom.jcfg: no static rooms; OpenCall makes and destroys one per call. */
export function janusVideoroom(_c: TemplateContext): string {
  return `# VideoRoom SFU. No static rooms: the OpenCall server creates one room per call over the API,
# with a random pin and secret, and destroys it when the call ends.
general: {
	# Event handlers are disabled in janus.jcfg.
	events = false
	# Numeric room and participant ids (what OpenCall uses).
	string_ids = false
}
`;
}
