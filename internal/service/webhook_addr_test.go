package service

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"93.184.216.34", true}, {"2606:2800:220:1:248:1893:25c8:1946", true},
		{"127.0.0.1", false}, {"::1", false}, {"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"fd00::1", false}, {"0.0.0.0", false}, {"::", false},
		{"224.0.0.1", false}, {"100.64.0.1", false}, {"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false},
		{"255.255.255.255", false},
	} {
		if got := publicAddr(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("publicAddr(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}

// The webhook client refuses to connect to a loopback receiver (the check
// is at connection time, after name resolution: "localhost" too); with
// local webhooks allowed it connects.
func TestWebhookClientPublicOnly(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer srv.Close()
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, u := range []string{srv.URL, byName} {
		resp, err := newWebhookClient(false).Post(u, "application/json", nil)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("POST %s: connected", u)
		}
		if !errors.Is(err, errWebhookAddress) {
			t.Errorf("POST %s: %v, want the address refused", u, err)
		}
	}
	if hits != 0 {
		t.Fatalf("the receiver got %d requests", hits)
	}
	resp, err := newWebhookClient(true).Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hits != 1 {
		t.Errorf("with local webhooks: %d requests", hits)
	}
}
