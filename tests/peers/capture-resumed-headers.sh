#!/bin/sh
# Captures the send-proxy-v2-ssl-cn header HAProxy (sid rootfs) sends for full and resumed
# TLS 1.2 and 1.3 sessions, with client authentication (`verify required`, the client
# presents device1's certificate) and without (`verify none`), into OUTDIR/*.hex:
#
#   sudo tests/peers/capture-resumed-headers.sh OUTDIR
#
# The second connection of each pair resumes the first one's session (`s_client -sess_out`,
# then `-sess_in`); each line printed says `New,` or `Reused,` as s_client saw it. Uses
# fixed loopback ports (127.0.0.5:40010-40017, 127.0.0.1:18860-18861 and 19010), so the
# headers are reproducible byte for byte.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "${1:?usage: $0 OUTDIR}"
OUT=$(realpath "$1")
ROOT=$("$HERE/sid-rootfs" | tail -n1)
N=ringress-fixture-resume-$$
W=$ROOT/tmp/$N; C=/tmp/$N
CAP=$HERE/capture-proxy-header.py
mkdir -p "$W/pki"
cat > "$W/pki/gen.sh" <<'G'
set -e
cd "$1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
  -days 3650 -subj /CN=ringress-test-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
  -subj /CN=test1.example.com 2>/dev/null
printf 'subjectAltName=DNS:test1.example.com\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -out server.crt -extfile server.ext 2>/dev/null
cat server.crt server.key > server.pem
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout device1.key -out device1.csr -subj /CN=device1 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > device1.ext
openssl x509 -req -in device1.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -out device1.crt -extfile device1.ext 2>/dev/null
G
chroot "$ROOT" sh $C/pki/gen.sh $C/pki
cat > "$W/capture.cfg" <<H
global
    log stdout format raw local0 info

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout client  60s
    timeout server  60s

# client_auth: the client must present a certificate
frontend cap_resume_cert
    bind 127.0.0.1:18860 ssl crt $C/pki/server.pem ca-file $C/pki/ca.crt verify required
    default_backend be_resume
# no client auth: no certificate is asked for
frontend cap_resume_nocert
    bind 127.0.0.1:18861 ssl crt $C/pki/server.pem verify none
    default_backend be_resume
backend be_resume
    server s1 127.0.0.1:19010 send-proxy-v2-ssl-cn proxy-v2-options ssl-cipher,authority
H
chroot "$ROOT" haproxy -db -f $C/capture.cfg > "$W/hap.log" 2>&1 & HPID=$!
trap 'kill $HPID; wait $HPID 2>/dev/null || true; rm -rf "$W"' EXIT
for i in $(seq 50); do ss -ltn | grep -q '127.0.0.1:18861 ' && break; sleep 0.1; done
# one capture: name, client port, haproxy port, s_client options
one() {
  python3 "$CAP" listen 127.0.0.1 19010 "$OUT/$1.hex" 2>"$W/$1.cap" & CPID=$!
  for i in $(seq 50); do ss -ltn | grep -q '127.0.0.1:19010 ' && break; sleep 0.1; done
  name=$1 port=$2 hport=$3; shift 3
  sleep 1.5 | chroot "$ROOT" openssl s_client -bind 127.0.0.5:$port -connect 127.0.0.1:$hport \
      -servername test1.example.com -CAfile $C/pki/ca.crt "$@" > "$W/$name.out" 2>&1 || true
  wait $CPID
  echo "$name: $(grep -E '^(New|Reused),' "$W/$name.out") | $(cat "$W/$name.cap")"
}
CERT="-cert $C/pki/device1.crt -key $C/pki/device1.key"
one tls13-cert-full    40010 18860 -tls1_3 $CERT -sess_out $C/s13c
one tls13-cert-resumed 40011 18860 -tls1_3 $CERT -sess_in $C/s13c
one tls13-nocert-full    40012 18861 -tls1_3 -sess_out $C/s13n
one tls13-nocert-resumed 40013 18861 -tls1_3 -sess_in $C/s13n
one tls12-cert-full    40014 18860 -tls1_2 $CERT -sess_out $C/s12c
one tls12-cert-resumed 40015 18860 -tls1_2 $CERT -sess_in $C/s12c
one tls12-nocert-full    40016 18861 -tls1_2 -sess_out $C/s12n
one tls12-nocert-resumed 40017 18861 -tls1_2 -sess_in $C/s12n
python3 "$CAP" decode "$OUT"/*.hex
