package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"sort"
	"strings"
	"time"
)

// SelfSignedCert makes a certificate for 127.0.0.1, ::1 and localhost that is its own CA, valid
// for two days, for the HTTPS webhook receivers of tests, the soak and the bench: the worker
// trusts it through WEBHOOK_CA_FILE (certPEM). keyPEM is the PKCS #8 private key, for a receiver
// that reads its key from a file.
func SelfSignedCert(commonName string) (certPEM, keyPEM []byte, cert tls.Certificate, err error) {
	return SelfSignedCertFor(commonName, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")})
}

// SelfSignedCertFor is SelfSignedCert for other names and addresses (the bench's noisy
// neighbour listens on 127.0.0.2 and up).
func SelfSignedCertFor(commonName string, dnsNames []string, ips []net.IP) (certPEM, keyPEM []byte, cert tls.Certificate, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:        true, BasicConstraintsValid: true,
		DNSNames:    dnsNames,
		IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, tls.Certificate{}, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	return certPEM, keyPEM, cert, err
}

// Environ renders variable maps as sorted KEY=VALUE entries for a process's environment; a later
// map's value wins.
func Environ(vars ...map[string]string) []string {
	m := map[string]string{}
	for _, vs := range vars {
		for k, v := range vs {
			m[k] = v
		}
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// RandomBase64 returns n random bytes in standard base64: generated peppers and encryption keys
// for a stack that lives only as long as a test, soak or bench run.
func RandomBase64(n int) string { return base64.StdEncoding.EncodeToString(randomBytes(n)) }

// RandomHex returns n random bytes in hex: generated tokens and names.
func RandomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b
}

// LoadAvg returns the 1, 5 and 15-minute load averages of /proc/loadavg ("" where there is none),
// for reports that must say how busy the machine was.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
