package faultproxy

import (
	"bytes"
	"testing"
)

// FuzzReadMessage feeds arbitrary bytes to the frontend parser as the proxy
// does (startup phase, then typed messages): it must not panic, and the
// messages it returns, concatenated, must be exactly the bytes it consumed.
func FuzzReadMessage(f *testing.F) {
	f.Add(append(untyped(196608, "user\x00postgres\x00\x00"), query("commit")...))
	f.Add(append(untyped(codeSSLRequest, ""), untyped(196608, "\x00")...))
	f.Add(append(append(untyped(196608, "\x00"), typed('P', "\x00select 1\x00\x00\x00")...), typed('S', "")...))
	f.Add([]byte{0, 0, 0, 8, 4, 210, 22, 47})
	f.Add(append(append(untyped(196608, "\x00"), typed('P', "s1\x00select 1\x00\x00\x00")...), typed('B', "\x00s1\x00\x00\x00")...))
	f.Add([]byte{'Q', 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		var out []byte
		startup := true
		for {
			m, err := readMessage(r, startup)
			if err != nil {
				break
			}
			if startup {
				if m.typ != 0 || len(m.raw) < minStartupLen {
					t.Fatalf("startup message %q", m.raw)
				}
				if c := m.startupCode(); c != codeSSLRequest && c != codeGSSENCRequest {
					startup = false
				}
			} else if m.typ == 0 || len(m.raw) < 5 {
				t.Fatalf("typed message %q", m.raw)
			}
			_ = m.isCommit()
			_ = m.isReadOnlyBegin()
			m.parse()
			m.bindStatement()
			_ = m.body()
			out = append(out, m.raw...)
		}
		if !bytes.HasPrefix(in, out) {
			t.Fatalf("the messages are not the input: %q from %q", out, in)
		}
	})
}
