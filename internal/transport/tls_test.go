package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM string // file holding the CA certificate
	dir     string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := &testCA{cert: cert, key: key, dir: dir, certPEM: filepath.Join(dir, name+"-ca.pem")}
	writePEM(t, ca.certPEM, "CERTIFICATE", der)
	return ca
}

// issue writes a node certificate valid for 127.0.0.1 as server and client
// and returns the TLS configuration that uses it with this CA.
func (ca *testCA) issue(t *testing.T, name string) TLSConfig {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{name},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := TLSConfig{
		CertFile: filepath.Join(ca.dir, name+".pem"),
		KeyFile:  filepath.Join(ca.dir, name+"-key.pem"),
		CAFile:   ca.certPEM,
	}
	writePEM(t, cfg.CertFile, "CERTIFICATE", der)
	writePEM(t, cfg.KeyFile, "PRIVATE KEY", keyDER)
	return cfg
}

func writePEM(t *testing.T, path, blockType string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTLS(t *testing.T) {
	ca := newTestCA(t, "cluster")
	serverTLS := ca.issue(t, "node-1")
	clientTLS := ca.issue(t, "node-2")
	rogueTLS := newTestCA(t, "rogue").issue(t, "node-3")

	// The Peer service shares the server with another service, as it
	// shares the port with the client API.
	opts, err := serverTLS.ServerOptions()
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer(opts...)
	Register(server, &echoHandler{})
	healthpb.RegisterHealthServer(server, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = server.Serve(lis) }()
	t.Cleanup(server.Stop)
	addr := lis.Addr().String()

	call := func(t *testing.T, cfg Config) error {
		t.Helper()
		g := newTransport(t, cfg)
		ctx, cancel := context.WithTimeout(t.Context(), hangLimit)
		defer cancel()
		resp, err := g.Call(ctx, addr, readRequest("k"))
		if err == nil && string(resp.GetRead().GetObject()) != "k" {
			t.Fatalf("unexpected response %v", resp)
		}
		return err
	}

	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Run("mutual TLS works", func(t *testing.T) {
				if err := call(t, Config{Mode: mode, TLS: clientTLS}); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("client without the CA is refused", func(t *testing.T) {
				noCA := clientTLS
				noCA.CAFile = ""
				if err := call(t, Config{Mode: mode, TLS: noCA}); err == nil {
					t.Fatal("a client that does not trust the cluster CA reached the peer")
				}
			})
			t.Run("client certificate from another CA is refused", func(t *testing.T) {
				rogue := rogueTLS
				rogue.CAFile = ca.certPEM // trusts the server, but is not trusted
				if err := call(t, Config{Mode: mode, TLS: rogue}); err == nil {
					t.Fatal("a client with a certificate from another CA reached the peer")
				}
			})
			t.Run("client without a certificate is refused", func(t *testing.T) {
				err := call(t, Config{Mode: mode, TLS: TLSConfig{CAFile: ca.certPEM}})
				if status.Code(err) != codes.Unauthenticated {
					t.Fatalf("got %v, want Unauthenticated", err)
				}
			})
			t.Run("plaintext client is refused", func(t *testing.T) {
				if err := call(t, Config{Mode: mode}); err == nil {
					t.Fatal("a plaintext client reached a TLS peer")
				}
			})
		})
	}

	t.Run("other services accept clients without a certificate", func(t *testing.T) {
		creds, err := TLSConfig{CAFile: ca.certPEM}.ClientCredentials()
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTLSConfigErrors(t *testing.T) {
	if _, err := (TLSConfig{CertFile: "only-cert.pem"}).ServerOptions(); err == nil {
		t.Error("server options without a key file succeeded")
	}
	missing := TLSConfig{CAFile: filepath.Join(t.TempDir(), "missing.pem")}
	if _, err := missing.ClientCredentials(); err == nil {
		t.Error("client credentials with a missing CA file succeeded")
	}
	if _, err := NewGRPC(Config{TLS: missing}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("transport with an unusable TLS configuration: got %v, want the load error", err)
	}
}
