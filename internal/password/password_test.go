package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/confidanthealth/confidant"
)

// referenceVector is the output of the reference C implementation
// (P-H-C/phc-winner-argon2):
//
//	echo -n password | argon2 somesalt -id -t 2 -m 16 -p 4 -l 32 -e
const referenceVector = "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo"

// frozenVector is argon2id("correct horse battery staple") with the salt
// "confidant-salt16" and TestParams, frozen when this package was written.
const frozenVector = "$argon2id$v=19$m=64,t=1,p=1$Y29uZmlkYW50LXNhbHQxNg$VrQ2Gm4opvvS+bYhpP+j9zhxoj9DnrTNBDDAZoy7v08"

func TestKnownAnswers(t *testing.T) {
	tests := []struct {
		name     string
		password string
		salt     string
		p        Params
		want     string
		rehash   bool // for a Hasher with TestParams
	}{
		{"reference implementation", "password", "somesalt", Params{Memory: 65536, Iterations: 2, Parallelism: 4, SaltLen: 8, KeyLen: 32}, referenceVector, true},
		{"frozen", "correct horse battery staple", "confidant-salt16", TestParams, frozenVector, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := argon2.IDKey([]byte(tt.password), []byte(tt.salt), tt.p.Iterations, tt.p.Memory, tt.p.Parallelism, tt.p.KeyLen)
			got := phc{memory: tt.p.Memory, iterations: tt.p.Iterations, parallelism: tt.p.Parallelism, salt: []byte(tt.salt), key: key}.encode()
			if got != tt.want {
				t.Errorf("hash = %s\nwant   %s", got, tt.want)
			}
			ok, rehash, err := NewTestHasher().Verify(t.Context(), tt.password, tt.want)
			if err != nil || !ok || rehash != tt.rehash {
				t.Fatalf("Verify(correct password) = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.rehash)
			}
			ok, _, err = NewTestHasher().Verify(t.Context(), tt.password+"x", tt.want)
			if err != nil || ok {
				t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestHashVerify(t *testing.T) {
	ctx := t.Context()
	h := NewTestHasher()
	for _, pw := range []string{"", "correct horse battery staple", "pässwörd ÅÄÖ 🔑", strings.Repeat("x", MaxBytes)} {
		enc, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Errorf("Hash = %q, unexpected prefix", enc)
		}
		if _, err := decode(enc); err != nil {
			t.Errorf("decode(Hash()) failed: %v", err)
		}
		ok, rehash, err := h.Verify(ctx, pw, enc)
		if !ok || rehash || err != nil {
			t.Errorf("Verify(same password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
		}
		ok, rehash, err = h.Verify(ctx, pw+" ", enc)
		if ok || rehash || err != nil {
			t.Errorf("Verify(other password) = %v, %v, %v; want false, false, nil", ok, rehash, err)
		}
	}
	a, _ := h.Hash(ctx, "same password here")
	b, _ := h.Hash(ctx, "same password here")
	if a == b {
		t.Error("two hashes of the same password are equal: salt not random")
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := t.Context()
	old := NewTestHasher()
	enc, err := old.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	stronger := TestParams
	stronger.Iterations = 2
	h, err := New(Config{Params: stronger})
	if err != nil {
		t.Fatal(err)
	}
	ok, rehash, err := h.Verify(ctx, "correct horse battery staple", enc)
	if !ok || !rehash || err != nil {
		t.Errorf("Verify with stronger params = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	ok, rehash, err = h.Verify(ctx, "wrong password!!", enc)
	if ok || rehash || err != nil {
		t.Errorf("Verify(wrong) = %v, %v, %v; needsRehash must be false when the password is wrong", ok, rehash, err)
	}
}

func TestDefaultHasher(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id with default parameters is slow")
	}
	h, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Params() != DefaultParams {
		t.Errorf("Params() = %+v, want DefaultParams", h.Params())
	}
	enc, err := h.Hash(t.Context(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=65536,t=2,p=1$") {
		t.Errorf("Hash = %q", enc)
	}
	ok, rehash, err := h.Verify(t.Context(), "correct horse battery staple", enc)
	if !ok || rehash || err != nil {
		t.Errorf("Verify = %v, %v, %v", ok, rehash, err)
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{Params: Params{Memory: 64, Iterations: 0, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
		{Params: Params{Memory: 64, Iterations: 1, Parallelism: 0, SaltLen: 16, KeyLen: 32}},
		{Params: Params{Memory: 7, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
		{Params: Params{Memory: 2 << 20, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
		{Params: Params{Memory: 64, Iterations: 101, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
		{Params: Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 8, KeyLen: 32}},
		{Params: Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 8}},
		{Params: Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 65}},
		{Params: TestParams, MaxConcurrent: -1},
	}
	for _, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want error", cfg)
		}
	}
	if err := DefaultParams.Validate(); err != nil {
		t.Errorf("DefaultParams: %v", err)
	}
	if err := TestParams.Validate(); err != nil {
		t.Errorf("TestParams: %v", err)
	}
}

// TestContextWhileWaiting fills the only slot and checks that Hash, Verify and
// DummyVerify give up when their context ends.
func TestContextWhileWaiting(t *testing.T) {
	h, err := New(Config{Params: TestParams, MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.Hash(t.Context(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	h.sem <- struct{}{} // occupy the only slot

	check := func(name string, err error, cause error) {
		t.Helper()
		if !confidant.IsKind(err, confidant.KindUnavailable) || !errors.Is(err, cause) {
			t.Errorf("%s: err = %v, want KindUnavailable wrapping %v", name, err, cause)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err = h.Hash(ctx, "x")
	check("Hash", err, context.DeadlineExceeded)
	_, _, err = h.Verify(ctx, "correct horse battery staple", enc)
	check("Verify", err, context.DeadlineExceeded)
	err = h.DummyVerify(ctx, "x")
	check("DummyVerify", err, context.DeadlineExceeded)

	cctx, ccancel := context.WithCancel(t.Context())
	ccancel()
	<-h.sem // free the slot: an already cancelled context must still fail
	_, err = h.Hash(cctx, "x")
	check("Hash(cancelled)", err, context.Canceled)

	// With the slot free, work proceeds.
	if ok, _, err := h.Verify(t.Context(), "correct horse battery staple", enc); !ok || err != nil {
		t.Errorf("Verify after release = %v, %v", ok, err)
	}
}

func TestConcurrencyBound(t *testing.T) {
	h, err := New(Config{Params: TestParams, MaxConcurrent: 2})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := h.Hash(t.Context(), "correct horse battery staple"); err != nil {
				t.Error(err)
			}
			if len(h.sem) > 2 {
				t.Error("more than MaxConcurrent slots in use")
			}
		})
	}
	wg.Wait()
	if len(h.sem) != 0 {
		t.Errorf("%d slots still held after all calls returned", len(h.sem))
	}
}

func TestDummyVerify(t *testing.T) {
	h := NewTestHasher()
	if err := h.DummyVerify(t.Context(), "anything at all"); err != nil {
		t.Fatal(err)
	}
	d, err := decode(h.dummy)
	if err != nil {
		t.Fatalf("dummy hash does not decode: %v", err)
	}
	if d.params() != h.Params() {
		t.Errorf("dummy params = %+v, want the hasher's %+v (same cost as a real verify)", d.params(), h.Params())
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := frozenVector
	salt := "Y29uZmlkYW50LXNhbHQxNg"
	key := "VrQ2Gm4opvvS+bYhpP+j9zhxoj9DnrTNBDDAZoy7v08"
	withParams := func(p string) string { return "$argon2id$v=19$" + p + "$" + salt + "$" + key }
	bad := map[string]string{
		"empty":              "",
		"dollar":             "$",
		"argon2i":            strings.Replace(valid, "argon2id", "argon2i", 1),
		"argon2d":            strings.Replace(valid, "argon2id", "argon2d", 1),
		"version 16":         strings.Replace(valid, "v=19", "v=16", 1),
		"no version":         "$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"leading text":       "x" + valid,
		"trailing dollar":    valid + "$",
		"trailing newline":   valid + "\n",
		"newline in salt":    "$argon2id$v=19$m=64,t=1,p=1$Y29uZmlkYW50\nLXNhbHQxNg$" + key,
		"padded salt":        "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key,
		"url base64":         strings.Replace(valid, "+", "-", 1),
		"non-canonical bits": "$argon2id$v=19$m=64,t=1,p=1$" + salt[:len(salt)-1] + "h$" + key,
		"no key":             "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"short salt":         "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key,
		"short key":          "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$c2hvcnRrZXk",
		"long key":           "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 87),
		"order":              withParams("t=1,m=64,p=1"),
		"missing p":          withParams("m=64,t=1"),
		"extra field":        withParams("m=64,t=1,p=1,k=2"),
		"spaces":             withParams("m=64, t=1,p=1"),
		"leading zero":       withParams("m=064,t=1,p=1"),
		"plus sign":          withParams("m=+64,t=1,p=1"),
		"negative":           withParams("m=-64,t=1,p=1"),
		"hex":                withParams("m=0x40,t=1,p=1"),
		"zero t":             withParams("m=64,t=0,p=1"),
		"zero p":             withParams("m=64,t=1,p=0"),
		"memory below 8p":    withParams("m=15,t=1,p=2"),
		"memory 1GiB+1":      withParams("m=1048577,t=1,p=1"),
		"memory overflow":    withParams("m=4294967296,t=1,p=1"),
		"t 101":              withParams("m=64,t=101,p=1"),
		"p 256":              withParams("m=4096,t=1,p=256"),
		"huge":               strings.Repeat("$argon2id", 1000),
	}
	for name, s := range bad {
		if _, err := decode(s); err == nil {
			t.Errorf("%s: decode(%q) accepted", name, s)
		}
		if _, _, err := NewTestHasher().Verify(t.Context(), "x", s); err == nil {
			t.Errorf("%s: Verify accepted a malformed hash", name)
		}
	}
	// The extremes that are allowed.
	for _, s := range []string{
		withParams("m=1048576,t=100,p=255"),
		withParams("m=8,t=1,p=1"),
		referenceVector,
	} {
		if _, err := decode(s); err != nil {
			t.Errorf("decode(%q) = %v, want ok", s, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		referenceVector,
		frozenVector,
		"$argon2id$v=19$m=1048576,t=100,p=255$Y29uZmlkYW50LXNhbHQxNg$VrQ2Gm4opvvS+bYhpP+j9zhxoj9DnrTNBDDAZoy7v08",
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
		"$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$argon2id$v=19$m=064,t=1,p=1$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ==$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
		"$argon2id$v=19$m=4294967295,t=4294967295,p=255$$",
		"$argon2id$v=19$$$$",
		"",
		"$",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := decode(s)
		if err != nil {
			return
		}
		if got := h.encode(); got != s {
			t.Fatalf("accepted %q but it re-encodes as %q", s, got)
		}
		p := h.params()
		if p.Memory > maxMemoryKiB || p.Iterations > maxIterations || p.Iterations < 1 || p.Parallelism < 1 ||
			p.Memory < 8*uint32(p.Parallelism) || p.SaltLen < minSaltLen || p.KeyLen < minKeyLen {
			t.Fatalf("accepted %q with out-of-range parameters %+v", s, p)
		}
	})
}

func TestCheckPolicy(t *testing.T) {
	tests := []struct {
		pw   string
		code string // "" for accepted
	}{
		{"", "weak_password"},
		{"short", "weak_password"},
		{"seven c", "weak_password"},
		{"eight ch", ""},               // 8 characters: the minimum
		{"ääääääää", ""},               // 8 characters, 16 bytes
		{"äääääää", "weak_password"},   // 7 characters, 14 bytes
		{"        ", ""},               // spaces are characters too
		{strings.Repeat("x7", 32), ""}, // 64 characters
		{strings.Repeat("y", 200), ""}, // far beyond 64
		{strings.Repeat("a", MaxBytes), ""},
		{strings.Repeat("a", MaxBytes+1), "weak_password"},
		{strings.Repeat("ä", MaxBytes/2+1), "weak_password"}, // 514 characters but 1028 bytes
		{"valid prefix \xff\xfe long enough", "weak_password"},
		{"password", "common_password"},
		{"PassWord1", "common_password"}, // case-insensitive
		{"iloveyou", "common_password"},
		{"12345678", "common_password"},
		{"qwertyuiop", "common_password"},
		{"correct horse battery staple", ""},
	}
	for _, tt := range tests {
		err := CheckPolicy(tt.pw)
		if tt.code == "" {
			if err != nil {
				t.Errorf("CheckPolicy(%q) = %v, want nil", tt.pw, err)
			}
			continue
		}
		if !confidant.IsKind(err, confidant.KindInvalid) || confidant.CodeOf(err) != tt.code {
			t.Errorf("CheckPolicy(%q) = %v, want KindInvalid %s", tt.pw, err, tt.code)
			continue
		}
		if len(tt.pw) >= MinLength && tt.pw != "password" && strings.Contains(err.Error(), tt.pw) {
			t.Errorf("CheckPolicy error contains the password")
		}
	}
	if n := CommonPasswords(); n < 5000 {
		t.Errorf("the common-password list has %d entries, want several thousand", n)
	}
}

func BenchmarkHashDefault(b *testing.B) {
	h, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := h.Hash(b.Context(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDefaultParallel(b *testing.B) {
	h, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	enc, err := h.Hash(b.Context(), "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, err := h.Verify(context.Background(), "correct horse battery staple", enc); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}
