#!/usr/bin/env bash
# Builds the deployment kit's container image on this machine without any image registry, for
# tests/deploy/live.test.ts (OPENCALL_KIT_IMAGE=localhost/opencall-deploy:test). Run as root on
# Debian 12 with podman, buildah, runc and debootstrap installed. About 8 minutes (7 min 36 s here):
#   1. a Debian 12 base from debootstrap (deb.debian.org), plus this machine's node and npm
#      (Debian 12's nodejs is 18, the server needs >= 20.19) and CA bundle (for a TLS-inspecting proxy);
#   2. `opencall-server init --sfu --turn` and the packed workspace tarballs into a temp folder;
#   3. `podman build` of the generated Containerfile with those tarballs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
for c in podman debootstrap runc node; do command -v "$c" >/dev/null || { echo "needs $c (apt-get install -y podman buildah runc debootstrap)" >&2; exit 1; }; done
work=$(mktemp -d /tmp/opencall-kit-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
# crun refuses hybrid cgroups, and raising RLIMIT_NOFILE/NPROC may be forbidden in sandboxes.
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
LIMITS=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)

debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >/dev/null
install -D "$(command -v node)" "$work/rootfs/usr/bin/node"
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
mkdir -p "$work/rootfs/usr/lib/node_modules" && cp -r "$npm_dir" "$work/rootfs/usr/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/bin/npm"
[ -d /usr/include/node ] && cp -r /usr/include/node "$work/rootfs/usr/include/"
cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/usr/local/share/host-ca.crt"
tar -C "$work/rootfs" -c . | "${PODMAN[@]}" import \
  --change 'ENV npm_config_nodedir=/usr' --change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/host-ca.crt' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - localhost/opencall-test-base:bookworm >/dev/null

npx tsc -b packages/protocol packages/server
node packages/server/dist/bin.js init --domain calls.example.com --sfu --turn --out "$work/kit" >/dev/null
for w in protocol server; do (cd "packages/$w" && npm pack --pack-destination "$work/kit" >/dev/null); done
pkgs=$(cd "$work/kit" && ls opencall-*.tgz | sed 's#^#/kit/#' | tr '\n' ' ')
# python3 make g++: better-sqlite3 builds from source when its prebuilt binary cannot be downloaded.
"${PODMAN[@]}" build --network host "${LIMITS[@]}" --build-arg BASE=localhost/opencall-test-base:bookworm \
  --build-arg OPENCALL_PACKAGE="$pkgs" --build-arg EXTRA_PACKAGES="python3 make g++" \
  -t localhost/opencall-deploy:test "$work/kit"
echo "built localhost/opencall-deploy:test; run: OPENCALL_KIT_IMAGE=localhost/opencall-deploy:test npx vitest run tests/deploy/live.test.ts --project memory"
