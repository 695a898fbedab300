#!/usr/bin/env bash
# Installs the Debian packages needed to build, test and run srt.
# As root: installs the missing ones (apt-get update only when something is
# missing). Otherwise: prints the exact apt-get line and fails.
set -euo pipefail

packages=(
	bubblewrap libseccomp-dev libjansson-dev libuv1-dev libcmocka-dev
	meson ninja-build pkg-config gcc clang python3 python3-pytest
	util-linux procps curl git
	# real clients of unix sockets in the end-to-end tests
	openssh-client gpg gpg-agent nodejs python3-docker
	# a real sshd for ssh by name in the transparent network mode (started by the test itself)
	openssh-server
	# TLS termination, credential masking and HTTPS parent proxies (OpenSSL 3)
	libssl-dev openssl
	# real HTTPS clients of the terminating proxy in the end-to-end tests
	python3-requests python3-pip
	# test certificate authorities and leaves made in the tests themselves
	python3-cryptography
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	if [ "$status" != installed ]; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "missing Debian packages: ${missing[*]}" >&2
	echo "install them as root with:" >&2
	echo "apt-get install -y ${missing[*]}"
	exit 1
fi

echo "installing missing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"
