#!/bin/sh
# Throw-away CA and server certificate for tests and lab setups (NOT for production: use your PKI).
#   gen_test_certs.sh OUTDIR [HOSTNAME] [CLIENT_CN...]
# Writes OUTDIR/ca.crt, ca.key, server.crt, server.key (SAN: HOSTNAME, localhost, 127.0.0.1) and, for
# each CLIENT_CN, OUTDIR/<cn>.crt/.key for brokers that use per-van client certificates.
set -eu
out=${1:?usage: gen_test_certs.sh OUTDIR [HOSTNAME] [CLIENT_CN...]}
host=${2:-localhost}
[ $# -ge 2 ] && shift 2 || shift $#
mkdir -p "$out"
cd "$out"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=amr test CA" \
    -keyout ca.key -out ca.crt >/dev/null 2>&1
printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$host" > server.ext
openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" -keyout server.key -out server.csr >/dev/null 2>&1
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
    -extfile server.ext -out server.crt >/dev/null 2>&1
for cn in "$@"; do
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$cn.key" -out "$cn.csr" >/dev/null 2>&1
    openssl x509 -req -in "$cn.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
        -extfile client.ext -out "$cn.crt" >/dev/null 2>&1
    rm -f "$cn.csr" client.ext
done
rm -f server.csr server.ext ca.srl
# The broker drops root privileges to user mosquitto: it must still read its key.
chmod 644 ca.crt server.crt
chmod 640 server.key
echo "$out: ca.crt server.crt server.key $*"
