package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/detect"
	"github.com/confidanthealth/confidant/internal/mail"
	"github.com/confidanthealth/confidant/internal/service"
)

// Config is the configuration shared by every command. Precedence, highest
// first: command-line flags, environment variables (CONFIDANT_<NAME>), the
// JSON config file, defaults. Secrets are never configuration values; they
// are files (TLS key) named by path.
type Config struct {
	Data            string        // data directory (SQLite database, demo logins)
	Addr            string        // listen address
	DatabaseURL     string        // empty: SQLite in Data; postgres://... : PostgreSQL
	TLSCert         string        // path of a PEM certificate; with TLSKey enables HTTPS
	TLSKey          string        // path of the PEM private key
	SecureCookies   bool          // mark cookies Secure (implied by TLS; set when behind a TLS proxy)
	LogLevel        slog.Level    // debug, info, warn, error
	SessionIdle     time.Duration // idle session timeout
	SessionAbsolute time.Duration // absolute session timeout
	MaxAttachment   int64         // bytes
	BreakGlass      time.Duration // how long break-the-glass emergency access lasts
	IncidentMargin  time.Duration // widens an incident's scope from alerts on both sides

	KEKProvider       string // "file" or "pkcs11"
	KEKFile           string // file provider: the KEK keyset file (outside Data)
	KEKPassphraseFile string // file provider: file holding the passphrase, if any
	PKCS11Module      string // pkcs11 provider: module path
	PKCS11Token       string // token label
	PKCS11PINFile     string // file holding the user PIN
	PKCS11KeyLabel    string // label of the KEK in the token
	RetentionYears    int    // years after birth before erasure is allowed (date of death unknown)
	LogOrigin         string // the access log's name in its signed checkpoints
	CheckpointEvery   time.Duration
	CheckpointDir     string   // also write each new checkpoint here (for the board, the regulator)
	Witnesses         []string // C2SP tlog-witness URL prefixes to submit checkpoints to
	SMTPURL           string   // smtp://[user@]host[:port]?from=ADDR (internal/mail.ParseURL); empty: the outbox folder
	SMTPPasswordFile  string   // file holding the SMTP password
	PublicURL         string   // the server's base URL as users reach it (invitation links); empty: http://<addr>
	OIDCIssuer        string   // single sign-on for staff: the OpenID Connect provider's issuer URL; empty: off
	OIDCClientID      string
	OIDCSecretFile    string // file holding the client secret
	OIDCName          string // the provider's name on the sign-in button

	// RecordsCheckEvery is serve's schedule of the records check; 0: none.
	RecordsCheckEvery time.Duration
	// VerifyEvery is serve's schedule of the full verification of the
	// access log (at start, then every VerifyEvery); 0: none.
	VerifyEvery time.Duration
	// The detector (internal/detect; docs/INCIDENTS.md, "Detection
	// rules"): how often it looks for new events (0: off), and thresholds.
	DetectEvery      time.Duration
	DetectVolumeHour int
	DetectVolumeDay  int
	DetectHours      *detect.Hours
	// OutboxEvery is how often serve delivers the due outbox rows;
	// BoardDigestEvery the board digest's period (0: none).
	OutboxEvery time.Duration
	// WebhookAllowLocal lets webhooks reach non-public addresses.
	WebhookAllowLocal bool
	BoardDigestEvery  time.Duration
}

// setting describes one configuration value.
type setting struct {
	name string // flag name; env CONFIDANT_<NAME with - as _>; JSON key with - as _
	help string
	def  string
	set  func(c *Config, v string) error
}

var settings = []setting{
	{"data", "data directory", "./confidant-data", func(c *Config, v string) error { c.Data = v; return nil }},
	{"addr", "listen address", "127.0.0.1:8080", func(c *Config, v string) error { c.Addr = v; return nil }},
	{"database-url", "PostgreSQL URL (postgres://...); empty: SQLite in the data directory", "", func(c *Config, v string) error { c.DatabaseURL = v; return nil }},
	{"tls-cert", "TLS certificate file (PEM); with --tls-key serves HTTPS", "", func(c *Config, v string) error { c.TLSCert = v; return nil }},
	{"tls-key", "TLS private key file (PEM)", "", func(c *Config, v string) error { c.TLSKey = v; return nil }},
	{"secure-cookies", "mark cookies Secure (implied by TLS; set behind a TLS proxy)", "false", func(c *Config, v string) (err error) {
		c.SecureCookies, err = strconv.ParseBool(v)
		return err
	}},
	{"log-level", "log level: debug, info, warn, error", "info", func(c *Config, v string) error {
		return c.LogLevel.UnmarshalText([]byte(v))
	}},
	{"session-idle", "sign-out after this long without activity", "30m", func(c *Config, v string) (err error) {
		c.SessionIdle, err = time.ParseDuration(v)
		return err
	}},
	{"session-absolute", "sign-out this long after sign-in", "12h", func(c *Config, v string) (err error) {
		c.SessionAbsolute, err = time.ParseDuration(v)
		return err
	}},
	{"break-glass-duration", "how long a therapist's break-the-glass emergency access lasts (1m to 24h)", "4h", func(c *Config, v string) (err error) {
		c.BreakGlass, err = time.ParseDuration(v)
		if err == nil && (c.BreakGlass < time.Minute || c.BreakGlass > 24*time.Hour) {
			err = errors.New("must be between 1m and 24h")
		}
		return err
	}},
	{"incident-scope-margin", "how much an incident's breach scope from alerts is widened before and after the alerts' period (0 to 720h)", "0s", func(c *Config, v string) (err error) {
		c.IncidentMargin, err = time.ParseDuration(v)
		if err == nil && (c.IncidentMargin < 0 || c.IncidentMargin > 720*time.Hour) {
			err = errors.New("must be between 0 and 720h")
		}
		return err
	}},
	{"kek-provider", "key-encryption key provider: file or pkcs11", "file", func(c *Config, v string) error {
		if v != "file" && v != "pkcs11" {
			return errors.New("must be file or pkcs11")
		}
		c.KEKProvider = v
		return nil
	}},
	{"kek-file", "KEK keyset file (default: DATA-keys/kek.json, beside the data directory)", "", func(c *Config, v string) error { c.KEKFile = v; return nil }},
	{"kek-passphrase-file", "file holding the passphrase that protects the KEK file", "", func(c *Config, v string) error { c.KEKPassphraseFile = v; return nil }},
	{"pkcs11-module", "PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so)", "", func(c *Config, v string) error { c.PKCS11Module = v; return nil }},
	{"pkcs11-token", "PKCS#11 token label", "", func(c *Config, v string) error { c.PKCS11Token = v; return nil }},
	{"pkcs11-pin-file", "file holding the PKCS#11 user PIN", "", func(c *Config, v string) error { c.PKCS11PINFile = v; return nil }},
	{"pkcs11-key-label", "label of the KEK inside the token", "confidant-kek", func(c *Config, v string) error { c.PKCS11KeyLabel = v; return nil }},
	{"retention-years", "years after birth before a patient may be erased when the date of death is unknown (Finnish rule: 120)", "120", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 200 {
			return errors.New("must be a whole number of years between 0 and 200")
		}
		c.RetentionYears = n
		return nil
	}},
	{"log-origin", "the access log's origin (its name in signed checkpoints), e.g. provider.example/confidant", "confidant/access-log", func(c *Config, v string) error {
		if v == "" || strings.ContainsAny(v, " \n+") {
			return errors.New("must be a non-empty name without spaces or '+'")
		}
		c.LogOrigin = v
		return nil
	}},
	{"checkpoint-every", "how often to sign a checkpoint of the access log while it grows", "5s", func(c *Config, v string) (err error) {
		c.CheckpointEvery, err = time.ParseDuration(v)
		if err == nil && c.CheckpointEvery < 100*time.Millisecond {
			err = errors.New("must be at least 100ms")
		}
		return err
	}},
	{"outbox-every", "serve: how often to deliver the due alerts and notices of the outbox (docs/INCIDENTS.md)", "5s", func(c *Config, v string) (err error) {
		c.OutboxEvery, err = time.ParseDuration(v)
		if err == nil && (c.OutboxEvery < 100*time.Millisecond || c.OutboxEvery > time.Hour) {
			err = errors.New("must be 100ms to 1h")
		}
		return err
	}},
	{"webhook-allow-local", "serve: let alert webhooks reach loopback, private and link-local addresses (a SIEM on the organisation's own network); by default only public addresses are connected to (docs/INCIDENTS.md)", "false", func(c *Config, v string) (err error) {
		c.WebhookAllowLocal, err = strconv.ParseBool(v)
		return err
	}},
	{"board-digest-every", "serve: the period of the signed board digest sent to every recipient of alerts (docs/INCIDENTS.md); 0 turns it off", "168h", func(c *Config, v string) (err error) {
		c.BoardDigestEvery, err = time.ParseDuration(v)
		if err == nil && c.BoardDigestEvery != 0 && c.BoardDigestEvery < time.Hour {
			err = errors.New("must be 0 (off) or at least 1h")
		}
		return err
	}},
	{"records-check-every", "serve: how often to check every record against the access log's record writes (the first check runs at start; a report for security officers; docs/AUDIT.md, \"Records\"); 0 turns it off", "24h", func(c *Config, v string) (err error) {
		c.RecordsCheckEvery, err = time.ParseDuration(v)
		if err == nil && c.RecordsCheckEvery != 0 && c.RecordsCheckEvery < time.Second {
			err = errors.New("must be 0 (off) or at least 1s")
		}
		return err
	}},
	{"verify-every", "serve: how often to verify the whole access log (its tree, checkpoints and every event; the first run starts with the server, in the background); a failure raises a critical integrity alert; 0 turns it off", "24h", func(c *Config, v string) (err error) {
		c.VerifyEvery, err = time.ParseDuration(v)
		if err == nil && c.VerifyEvery != 0 && c.VerifyEvery < time.Minute {
			err = errors.New("must be 0 (off) or at least 1m")
		}
		return err
	}},
	{"detect-every", "serve: how often the detector looks for new access-log events to run its rules over (docs/INCIDENTS.md, \"Detection rules\"); 0 turns the detector off", "2s", func(c *Config, v string) (err error) {
		c.DetectEvery, err = time.ParseDuration(v)
		if err == nil && c.DetectEvery != 0 && (c.DetectEvery < 100*time.Millisecond || c.DetectEvery > time.Hour) {
			err = errors.New("must be 0 (off) or between 100ms and 1h")
		}
		return err
	}},
	{"detect-volume-hour", "detector: an account opening the records of more distinct patients than this within a clock hour raises volume_hour", "40", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return errors.New("must be a whole number between 1 and 1000000")
		}
		c.DetectVolumeHour = n
		return nil
	}},
	{"detect-volume-day", "detector: an account opening the records of more distinct patients than this within a day (Helsinki) raises volume_day", "120", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return errors.New("must be a whole number between 1 and 1000000")
		}
		c.DetectVolumeDay = n
		return nil
	}},
	{"detect-opening-hours", "detector: the clinics' opening hours in Helsinki time, e.g. \"Mon-Fri 07:00-20:00, Sat 09:00-14:00\"; reading records outside them raises after_hours", detect.DefaultHours, func(c *Config, v string) (err error) {
		c.DetectHours, err = detect.ParseHours(v)
		if err != nil {
			return errors.New(confidant.MessageOf(err))
		}
		return nil
	}},
	{"smtp-url", "SMTP server for the messages Confidant sends (invitations, notices, alerts): smtp://[user@]host[:port]?from=ADDR (STARTTLS required; tls=none only to this machine) or smtps://...; empty: messages are written to DATA/outbox and not delivered", "", func(c *Config, v string) error {
		if v != "" {
			if _, err := mail.ParseURL(v); err != nil {
				return errors.New(confidant.MessageOf(err))
			}
		}
		c.SMTPURL = v
		return nil
	}},
	{"smtp-password-file", "file holding the SMTP password (the URL never carries one)", "", func(c *Config, v string) error { c.SMTPPasswordFile = v; return nil }},
	{"oidc-issuer", "single sign-on for staff: the OpenID Connect provider's issuer URL (https; discovery at /.well-known/openid-configuration); register <public-url>/sso/callback as the redirect URI; empty: off", "", func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				return errors.New("must be an http(s) URL without user, query or fragment")
			}
		}
		c.OIDCIssuer = v
		return nil
	}},
	{"oidc-client-id", "single sign-on: the client id registered at the provider", "", func(c *Config, v string) error { c.OIDCClientID = v; return nil }},
	{"oidc-client-secret-file", "single sign-on: file holding the client secret", "", func(c *Config, v string) error { c.OIDCSecretFile = v; return nil }},
	{"oidc-name", "single sign-on: the provider's name on the sign-in button", "your organisation", func(c *Config, v string) error { c.OIDCName = v; return nil }},
	{"public-url", "the server's base URL as users reach it, for the links in invitations and as the passkeys' relying party (its host; a loopback address gives localhost) (e.g. https://confidant.example); default http://<addr>", "", func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				return errors.New("must be an http(s) URL such as https://confidant.example, without user, query or fragment")
			}
			v = strings.TrimRight(v, "/")
		}
		c.PublicURL = v
		return nil
	}},
	{"checkpoint-dir", "also write every new signed checkpoint to this directory (e.g. a mount the board or regulator collects)", "", func(c *Config, v string) error { c.CheckpointDir = v; return nil }},
	{"witnesses", "comma-separated URLs of C2SP tlog-witnesses that cosign each checkpoint (see confidant witness serve); serve refuses to start if one has seen a larger or different log", "", func(c *Config, v string) error {
		c.Witnesses = nil
		for u := range strings.SplitSeq(v, ",") {
			u = strings.TrimSpace(u)
			if u == "" {
				continue
			}
			pu, err := url.Parse(u)
			if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				return fmt.Errorf("%q is not an http(s) URL", u)
			}
			c.Witnesses = append(c.Witnesses, u)
		}
		return nil
	}},
	{"max-attachment-mib", "largest attachment, MiB", "10", func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 1024 {
			return errors.New("must be a whole number of MiB between 1 and 1024")
		}
		c.MaxAttachment = n << 20
		return nil
	}},
}

func envName(name string) string {
	return "CONFIDANT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// configFlags registers the shared configuration flags on fs and returns a
// function that resolves the configuration after fs.Parse.
func configFlags(fs *flag.FlagSet) func() (Config, error) {
	vals := make(map[string]*string, len(settings))
	for _, s := range settings {
		vals[s.name] = fs.String(s.name, s.def, fmt.Sprintf("%s (env %s)", s.help, envName(s.name)))
	}
	file := fs.String("config", "", "JSON configuration file (env CONFIDANT_CONFIG; default DATA/confidant.json if present)")
	return func() (Config, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		resolved := map[string]string{}
		for _, s := range settings {
			resolved[s.name] = s.def
		}
		// The data directory is needed to find the default config file.
		dataDir := pick("data", set, vals, resolved, nil)
		path := *file
		if !set["config"] {
			if v, ok := os.LookupEnv("CONFIDANT_CONFIG"); ok {
				path = v
			}
		}
		explicit := path != ""
		if !explicit {
			path = filepath.Join(dataDir, "confidant.json")
		}
		fromFile, err := readConfigFile(path, explicit)
		if err != nil {
			return Config{}, err
		}
		var c Config
		for _, s := range settings {
			v := pick(s.name, set, vals, resolved, fromFile)
			if err := s.set(&c, v); err != nil {
				return Config{}, fmt.Errorf("configuration %s: %v", s.name, err)
			}
		}
		if c.KEKFile == "" {
			c.KEKFile = defaultKEKFile(c.Data)
		}
		return c, c.Validate()
	}
}

// pick resolves one setting: flag, then environment, then file, then default.
func pick(name string, set map[string]bool, flags map[string]*string, defs map[string]string, file map[string]string) string {
	if set[name] {
		return *flags[name]
	}
	if v, ok := os.LookupEnv(envName(name)); ok {
		return v
	}
	if v, ok := file[strings.ReplaceAll(name, "-", "_")]; ok {
		return v
	}
	return defs[name]
}

// readConfigFile reads a flat JSON object of settings. A missing default
// file is not an error; a missing explicit one is.
func readConfigFile(path string, explicit bool) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("configuration file %s is not valid JSON: %v", path, err)
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[strings.ReplaceAll(s.name, "-", "_")] = true
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if !known[k] {
			return nil, fmt.Errorf("configuration file %s: unknown setting %q", path, k)
		}
		switch v := v.(type) {
		case string:
			out[k] = v
		case bool:
			out[k] = strconv.FormatBool(v)
		case float64:
			out[k] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			return nil, fmt.Errorf("configuration file %s: setting %q must be a string, number or boolean", path, k)
		}
	}
	return out, nil
}

// Validate reports an inconsistent configuration.
func (c Config) Validate() error {
	if c.Data == "" {
		return errors.New("configuration: data directory must be set")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("configuration: tls-cert and tls-key go together")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return errors.New("configuration: database-url must be a postgres:// URL (leave it empty for SQLite)")
	}
	if c.SMTPPasswordFile != "" && c.SMTPURL == "" {
		return errors.New("configuration: smtp-password-file needs smtp-url")
	}
	if c.OIDCIssuer != "" && (c.OIDCClientID == "" || c.OIDCSecretFile == "") {
		return errors.New("configuration: oidc-issuer needs oidc-client-id and oidc-client-secret-file")
	}
	if c.KEKProvider == "pkcs11" && (c.PKCS11Module == "" || c.PKCS11Token == "" || c.PKCS11PINFile == "") {
		return errors.New("configuration: the pkcs11 provider needs pkcs11-module, pkcs11-token and pkcs11-pin-file")
	}
	if c.KEKProvider == "file" && c.DatabaseURL == "" && insideDir(c.KEKFile, c.Data) {
		return errors.New("configuration: the KEK file must not be inside the data directory (a copy of one would give the other)")
	}
	return c.serviceConfig().Validate()
}

// defaultKEKFile is DATA-keys/kek.json, beside the data directory.
func defaultKEKFile(data string) string {
	clean := filepath.Clean(data)
	return filepath.Join(filepath.Dir(clean), filepath.Base(clean)+"-keys", "kek.json")
}

// insideDir reports whether path lies inside dir.
func insideDir(path, dir string) bool {
	ap, err1 := filepath.Abs(path)
	ad, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(ad, ap)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// serviceConfig derives the service configuration.
func (c Config) serviceConfig() service.Config {
	sc := service.DefaultConfig()
	sc.SessionIdle = c.SessionIdle
	sc.SessionAbsolute = c.SessionAbsolute
	sc.MaxAttachment = c.MaxAttachment
	if c.BreakGlass != 0 {
		sc.BreakGlassTTL = c.BreakGlass
	}
	sc.IncidentScopeMargin = c.IncidentMargin
	sc.Retention.YearsAfterBirth = c.RetentionYears
	sc.PublicURL = c.PublicURL
	if sc.PublicURL == "" {
		sc.PublicURL = "http://" + c.Addr
	}
	return sc
}

// newFlagSet returns a flag set for a command that prints its usage to w.
func newFlagSet(name, synopsis string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: confidant %s\n\n", synopsis)
		fmt.Fprintln(w, "Flags:")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, mapping flag errors to errUsage (already reported).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}
