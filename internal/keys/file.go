package keys

import (
	"fmt"
	"strconv"
	"strings"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys/internal/filekek"
	"github.com/tink-crypto/tink-go/v2/tink"
)

const filePrefix = "file:"

func fileKEKID(id uint32) string { return filePrefix + strconv.FormatUint(uint64(id), 10) }

// fileKEK is the file provider: every key of the KEK keyset, in memory.
type fileKEK struct {
	path    string
	primary uint32
	aeads   map[uint32]tink.AEAD
}

func openFileKEK(path string, passphrase []byte) (*fileKEK, error) {
	u, err := filekek.Read(path, passphrase)
	if err != nil {
		return nil, err
	}
	primary, aeads, err := u.Keys()
	if err != nil {
		return nil, confidant.Wrap(err, confidant.KindUnavailable, filekek.CodeInvalid,
			fmt.Sprintf("KEK file %s holds a key that cannot be used", path))
	}
	return &fileKEK{path: path, primary: primary, aeads: aeads}, nil
}

func (f *fileKEK) PrimaryID() string { return fileKEKID(f.primary) }

func (f *fileKEK) AEAD(id string) (tink.AEAD, error) {
	s, ok := strings.CutPrefix(id, filePrefix)
	n, err := strconv.ParseUint(s, 10, 32)
	if !ok || err != nil {
		return nil, confidant.Errorf(confidant.KindUnavailable, codeUnavailable,
			"The key was wrapped by KEK %.80q, which is not a key of the file KEK provider.", id)
	}
	a, ok := f.aeads[uint32(n)]
	if !ok {
		return nil, confidant.Errorf(confidant.KindUnavailable, codeUnavailable,
			"The key was wrapped by KEK %s, which KEK file %s does not hold (retired, or another key file).", id, f.path)
	}
	return a, nil
}

func (f *fileKEK) Close() error {
	f.aeads = nil
	return nil
}

// CreateFile creates a KEK file at path holding a new Tink keyset with one
// AES-256-GCM key. With a nil passphrase the keyset is stored in the clear
// (kdf "none"); otherwise it is encrypted under argon2id(passphrase) with
// m=64 MiB, t=3, p=1 and a random salt. The file gets mode 0600 and its
// parent directory, if created, 0700. CreateFile never overwrites: an
// existing file is KindConflict "kek_exists". The file is written to a
// temporary file, synced and linked into place, so it is complete or absent.
func CreateFile(path string, passphrase []byte) error {
	if path == "" {
		return invalidConfig("The KEK file needs a path.")
	}
	if passphrase != nil && len(passphrase) == 0 {
		return invalidConfig("The KEK passphrase is empty; give none (nil) for a file without passphrase.")
	}
	u, err := filekek.New(passphrase, filekek.DefaultParams)
	if err != nil {
		return confidant.Wrap(err, confidant.KindInternal, "kek_create", "The KEK could not be created.")
	}
	data, err := u.Encode()
	if err != nil {
		return confidant.Wrap(err, confidant.KindInternal, "kek_create", "The KEK could not be created.")
	}
	if err := filekek.WriteNew(path, data); err != nil {
		return asError(err, "kek_create", fmt.Sprintf("KEK file %s could not be written.", path))
	}
	return nil
}

// RotateFile adds a fresh AES-256-GCM key to the keyset of the KEK file and
// makes it primary, keeping the old keys so that keys wrapped by them still
// unwrap. It returns the new KEK id ("file:<id>"). The file is replaced
// atomically, protected as before (same passphrase and argon2id salt).
// A running Keyring keeps the keyset it opened: open a new one to wrap with
// the new key, then re-wrap (RewrapPatientKey, RewrapSystemKey).
//
// RotateFile and RetireFile must not run concurrently on the same file.
func RotateFile(path string, passphrase []byte) (newKEKID string, err error) {
	u, err := filekek.Read(path, passphrase)
	if err != nil {
		return "", err
	}
	id, err := u.Rotate()
	if err != nil {
		return "", confidant.Wrap(err, confidant.KindInternal, "kek_rotate", "The KEK could not be rotated.")
	}
	if err := rewrite(path, u); err != nil {
		return "", err
	}
	return fileKEKID(id), nil
}

// RetireFile deletes from the KEK file every non-primary key for which
// inUse reports false, and returns the KEK ids it deleted. inUse must
// answer for every wrapped key, patient and system. If inUse fails,
// nothing is deleted. Keys wrapped by a deleted key can never be unwrapped
// again (by a Keyring opened afterwards).
func RetireFile(path string, passphrase []byte, inUse func(kekID string) (bool, error)) (removed []string, err error) {
	u, err := filekek.Read(path, passphrase)
	if err != nil {
		return nil, err
	}
	ids, err := u.Retire(func(id uint32) (bool, error) { return inUse(fileKEKID(id)) })
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if err := rewrite(path, u); err != nil {
		return nil, err
	}
	for _, id := range ids {
		removed = append(removed, fileKEKID(id))
	}
	return removed, nil
}

func rewrite(path string, u *filekek.Unlocked) error {
	data, err := u.Encode()
	if err != nil {
		return confidant.Wrap(err, confidant.KindInternal, "kek_write", "The KEK file could not be encoded.")
	}
	if err := filekek.Replace(path, data); err != nil {
		return asError(err, "kek_write", fmt.Sprintf("KEK file %s could not be written.", path))
	}
	return nil
}

// asError keeps a *confidant.Error and wraps anything else as internal.
func asError(err error, code, msg string) error {
	if _, ok := err.(*confidant.Error); ok {
		return err
	}
	return confidant.Wrap(err, confidant.KindInternal, code, msg)
}
