#!/usr/bin/env bash
# Installs the Debian packages notnets needs to build, test, fuzz and benchmark, if any are
# missing.
set -euo pipefail

packages=(cmake g++ make pkg-config libgtest-dev libgmock-dev
          libgrpc++-dev libprotobuf-dev libprotoc-dev protobuf-compiler protobuf-compiler-grpc
          clang libclang-rt-14-dev
          iceoryx libiceoryx-posh-dev libcapnp-dev capnproto gnuplot-nox
          libcli11-dev nlohmann-json3-dev libcpp-httplib-dev prometheus python3-jsonschema
          memcached libmemcached-dev
          g++-aarch64-linux-gnu qemu-user)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "error: run as root (or install these packages first): ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
