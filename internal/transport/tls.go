package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

// TLSConfig names the PEM files that secure internode connections. All
// fields empty means plaintext.
//
// A node uses the same files on both sides: CertFile and KeyFile are its
// certificate and key, presented as server and as client; CAFile is the CA
// that signs every node's certificate. With a CA the Peer service requires
// a client certificate signed by it (mutual TLS), while the other services
// on the port accept clients without one.
type TLSConfig struct {
	CertFile string
	KeyFile  string
	CAFile   string
	// ServerName overrides the name the dialer expects in the peer's
	// certificate (by default the host part of the address dialed).
	ServerName string
}

// Enabled reports whether any TLS file is configured.
func (c TLSConfig) Enabled() bool {
	return c.CertFile != "" || c.KeyFile != "" || c.CAFile != ""
}

// ServerOptions returns the options for a grpc.Server that carries the Peer
// service: transport credentials (TLS when configured, requiring client
// certificates on the Peer service when a CA is given), message limits
// that admit the largest values, and a keepalive policy that accepts the
// dialers' pings. Append the node's own options after these.
func (c TLSConfig) ServerOptions() ([]grpc.ServerOption, error) {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(DefaultMaxMessageBytes),
		grpc.MaxSendMsgSize(DefaultMaxMessageBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			// Below the dialers' KeepaliveTime, so that their pings are
			// never taken for abuse.
			MinTime:             DefaultKeepaliveTime / 2,
			PermitWithoutStream: true,
		}),
	}
	if !c.Enabled() {
		return append(opts, grpc.Creds(insecure.NewCredentials())), nil
	}
	if c.CertFile == "" || c.KeyFile == "" {
		return nil, errors.New("transport: TLS server needs both a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("transport: load TLS key pair: %w", err)
	}
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}
	if c.CAFile != "" {
		pool, err := loadCertPool(c.CAFile)
		if err != nil {
			return nil, err
		}
		tlsCfg.ClientCAs = pool
		// Other services share the port and may serve clients without
		// certificates, so the handshake only verifies a certificate when
		// one is given, and the Peer service insists on one.
		tlsCfg.ClientAuth = tls.VerifyClientCertIfGiven
		opts = append(opts,
			grpc.ChainUnaryInterceptor(requirePeerCertUnary),
			grpc.ChainStreamInterceptor(requirePeerCertStream),
		)
	}
	return append(opts, grpc.Creds(credentials.NewTLS(tlsCfg))), nil
}

// ClientCredentials returns the dialing side's transport credentials:
// plaintext when nothing is configured, otherwise TLS verifying the peer
// against CAFile (the system roots when it is empty) and presenting
// CertFile when given.
func (c TLSConfig) ClientCredentials() (credentials.TransportCredentials, error) {
	if !c.Enabled() {
		return insecure.NewCredentials(), nil
	}
	tlsCfg := &tls.Config{
		ServerName: c.ServerName,
		MinVersion: tls.VersionTLS12,
	}
	if c.CAFile != "" {
		pool, err := loadCertPool(c.CAFile)
		if err != nil {
			return nil, err
		}
		tlsCfg.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("transport: load TLS key pair: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(tlsCfg), nil
}

func loadCertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("transport: read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("transport: CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// isPeerMethod reports whether a full gRPC method name belongs to the Peer
// service.
func isPeerMethod(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+tuttipb.Peer_ServiceDesc.ServiceName+"/")
}

// verifiedClientCert returns an Unauthenticated error unless the caller in
// ctx presented a certificate that the handshake verified.
func verifiedClientCert(ctx context.Context) error {
	p, ok := grpcpeer.FromContext(ctx)
	if ok {
		if info, isTLS := p.AuthInfo.(credentials.TLSInfo); isTLS && len(info.State.VerifiedChains) > 0 {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "transport: the Peer service requires a client certificate signed by the cluster CA")
}

func requirePeerCertUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if isPeerMethod(info.FullMethod) {
		if err := verifiedClientCert(ctx); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

func requirePeerCertStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if isPeerMethod(info.FullMethod) {
		if err := verifiedClientCert(ss.Context()); err != nil {
			return err
		}
	}
	return handler(srv, ss)
}
