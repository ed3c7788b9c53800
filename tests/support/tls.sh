#!/usr/bin/env bash
# tests/support/tls.sh DIR: generate throwaway test PKI with the openssl CLI.
#   DIR/ca.pem, DIR/ca.key        a self-signed CA ("regsh test CA")
#   DIR/server.pem, DIR/server.key  a server certificate signed by the CA for
#                                   IP:127.0.0.1, DNS:localhost and
#                                   DNS:registry.regsh.test (a name that is not
#                                   loopback, given to 127.0.0.1 in a private
#                                   /etc/hosts by the specs) (for --tls)
#   DIR/token.pem, DIR/token.key  a self-signed token-signing certificate
#                                 (keyUsage digitalSignature; the registry's
#                                 auth.token rootcertbundle) and its RSA key
# Existing files are kept while valid for another day, so calling it again on
# one DIR is cheap; concurrent callers serialise on a lock. Prints DIR.
set -euo pipefail
dir=${1:?usage: tls.sh DIR}
mkdir -p "$dir"
cd "$dir"
exec 9> .lock
flock 9
days=30
for cert in ca server token; do
  if [ -s $cert.pem ] && ! openssl x509 -checkend 86400 -noout -in $cert.pem >/dev/null; then
    rm -f ca.pem server.pem token.pem
  fi
done
if [ ! -s ca.pem ]; then rm -f server.pem; fi
if [ -s server.pem ] && ! openssl x509 -noout -ext subjectAltName -in server.pem \
    | grep -q registry.regsh.test; then
  rm -f server.pem
fi
if [ ! -s ca.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days "$days" \
    -subj "/CN=regsh test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
if [ ! -s server.pem ]; then
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
    -subj "/CN=127.0.0.1" 2>/dev/null
  printf '%s\n' "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:registry.regsh.test" > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out server.pem -days "$days" -extfile server.ext 2>/dev/null
  rm -f server.csr server.ext
fi
if [ ! -s token.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.pem -days "$days" \
    -subj "/CN=regsh test token signer" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyCertSign" 2>/dev/null
fi
chmod 600 ./*.key
echo "$dir"
