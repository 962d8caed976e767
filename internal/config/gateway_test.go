package config

import (
	"reflect"
	"strings"
	"testing"
)

const (
	hashA = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
	hashB = "sha256:fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"
)

func TestGatewayValidateMessages(t *testing.T) {
	c := Default()
	c.Gateway.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.1/8", "nope"}
	c.Gateway.Keys = []KeyConfig{
		{Name: "app", Hash: hashA, Scopes: []string{"read"}},
		{Name: "app", Hash: strings.ToUpper(hashA[:7]) + strings.ToUpper(hashA[7:]), Scopes: []string{"wrte"}, Prefixes: []string{""}, Rate: -1, Burst: -2},
		{Name: "my app", Hash: "abc"},
	}
	c.TLS.CertFile = "testdata/tls/cert.pem"
	want := []string{
		`strata: config: gateway.trusted_proxies[1]: "10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?`,
		`strata: config: gateway.trusted_proxies[2]: not an IP address or CIDR prefix: "nope"`,
		`strata: config: gateway.keys[1].name: duplicate name "app" (also gateway.keys[0])`,
		`strata: config: gateway.keys[1].hash: must be "sha256:" followed by 64 hex digits (strata keys new prints one), got "SHA256:2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE"`,
		`strata: config: gateway.keys[1].scopes: unknown scope "wrte" (want read, write or admin)`,
		`strata: config: gateway.keys[1].prefixes[0]: must not be empty (an empty prefix matches every key; omit prefixes instead)`,
		`strata: config: gateway.keys[1].rate: must be >= 0 requests per second, got -1`,
		`strata: config: gateway.keys[1].burst: must be >= 0, got -2`,
		`strata: config: gateway.keys[2].name: must not contain spaces or control characters, got "my app"`,
		`strata: config: gateway.keys[2].hash: must be "sha256:" followed by 64 hex digits (strata keys new prints one), got "abc"`,
		`strata: config: gateway.keys[2].scopes: must list at least one of read, write, admin`,
		`strata: config: tls.key_file: must be set when tls.cert_file is`,
	}
	err := c.Validate()
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("Validate() =\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

func TestGatewayDuplicateHashIgnoresCase(t *testing.T) {
	c := Default()
	c.Gateway.Keys = []KeyConfig{
		{Name: "a", Hash: hashA, Scopes: []string{"read"}},
		{Name: "b", Hash: "sha256:" + strings.ToUpper(hashA[7:]), Scopes: []string{"read"}},
	}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "gateway.keys[1].hash: duplicate hash (also gateway.keys[0])") {
		t.Fatalf("Validate() = %v, want a duplicate hash", err)
	}
}

func TestTLSFilesMustLoad(t *testing.T) {
	c := Default()
	c.TLS = TLSConfig{CertFile: "testdata/tls/key.pem", KeyFile: "testdata/tls/cert.pem"} // swapped
	err := c.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "strata: config: tls.cert_file: cannot use testdata/tls/key.pem with tls.key_file testdata/tls/cert.pem: ") {
		t.Fatalf("Validate() = %v", err)
	}
	c.TLS = TLSConfig{CertFile: "testdata/tls/cert.pem", KeyFile: "testdata/tls/nope.pem"}
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "strata: config: tls.key_file: open testdata/tls/nope.pem: ") {
		t.Fatalf("Validate() = %v", err)
	}
}

func TestGatewayFromFile(t *testing.T) {
	c, err := Load("testdata/full.good.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := KeyConfig{Name: "app", Hash: hashA, Scopes: []string{"read", "write"},
		Prefixes: []string{"users:", "session:"}, Rate: 1000, Burst: 2000}
	if len(c.Gateway.Keys) != 2 || !reflect.DeepEqual(c.Gateway.Keys[0], want) {
		t.Fatalf("gateway.keys = %+v", c.Gateway.Keys)
	}
	if !reflect.DeepEqual(c.Gateway.TrustedProxies, []string{"10.0.0.0/8", "192.168.1.7", "fd00::/8"}) {
		t.Fatalf("gateway.trusted_proxies = %q", c.Gateway.TrustedProxies)
	}
}

func TestGatewayKeyErrorsNameTheElement(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{"gateway:\n  keys:\n    - name: a\n      hash: " + hashA + "\n      scopes: [read]\n      rate: fast\n",
			`strata: config: gateway.keys[0].rate: want a number, got "fast"`},
		{"gateway:\n  keys:\n    - name: a\n      hahs: x\n",
			`strata: config: gateway.keys[0].hahs: unknown key (did you mean hash?)`},
		{"gateway:\n  keys:\n    - just-a-string\n",
			`strata: config: gateway.keys[0]: want a mapping, got "just-a-string"`},
		{"gateway:\n  keys:\n    app: {}\n",
			`strata: config: gateway.keys: want a list, got a mapping`},
		{"gateway:\n  trusted_proxies: [[1]]\n",
			`strata: config: gateway.trusted_proxies[0]: want a string, got a list`},
	} {
		_, err := Load(writeYAML(t, tt.src), nil, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%q) = %v, want %q", tt.src, err, tt.want)
		}
	}
}

func TestGatewayFromEnv(t *testing.T) {
	c, err := Load("", []string{
		"STRATA_GATEWAY_TRUSTED_PROXIES=10.0.0.0/8, 127.0.0.1",
		"STRATA_GATEWAY_PROTECTED_MODE=false",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Gateway.TrustedProxies, []string{"10.0.0.0/8", "127.0.0.1"}) || c.Gateway.ProtectedMode {
		t.Fatalf("gateway = %+v", c.Gateway)
	}
	_, err = Load("", []string{"STRATA_GATEWAY_KEYS=app"}, nil)
	if err == nil || !strings.Contains(err.Error(), "strata: config: gateway.keys: want a list, got \"app\"; it can only be set in the configuration file") {
		t.Fatalf("keys from env: %v", err)
	}
}
