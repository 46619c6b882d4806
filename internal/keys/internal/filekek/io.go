package filekek

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	confidant "github.com/confidanthealth/confidant"
)

// CodeInsecure is the error code for a key file readable or writable by
// group or others.
const CodeInsecure = "kek_insecure_mode"

var randRead = rand.Read

// Read reads, decodes and unlocks the key file at path. It refuses a file
// that group or others may read or write (as ssh does with private keys).
func Read(path string, passphrase []byte) (*Unlocked, error) {
	data, err := ReadBytes(path)
	if err != nil {
		return nil, err
	}
	f, err := Decode(data, path)
	if err != nil {
		return nil, err
	}
	return f.Unlock(passphrase, path)
}

// ReadBytes reads the key file at path with the checks of Read.
func ReadBytes(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &confidant.Error{Kind: confidant.KindUnavailable, Code: CodeMissing,
			Message: fmt.Sprintf("KEK file %s does not exist", path), Err: err}
	}
	if err != nil {
		return nil, &confidant.Error{Kind: confidant.KindUnavailable, Code: CodeUnavailable,
			Message: fmt.Sprintf("KEK file %s cannot be opened", path), Err: err}
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, &confidant.Error{Kind: confidant.KindUnavailable, Code: CodeUnavailable,
			Message: fmt.Sprintf("KEK file %s cannot be read", path), Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, invalid(path, "not a regular file")
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, &confidant.Error{Kind: confidant.KindUnavailable, Code: CodeInsecure,
			Message: fmt.Sprintf("KEK file %s has mode %04o; it must not be accessible by group or others (chmod 600)", path, st.Mode().Perm())}
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, &confidant.Error{Kind: confidant.KindUnavailable, Code: CodeUnavailable,
			Message: fmt.Sprintf("KEK file %s cannot be read", path), Err: err}
	}
	return data, nil
}

// WriteNew writes data to a new file at path with mode 0600, creating the
// parent directory with mode 0700 if needed. It never replaces an existing
// file (KindConflict, CodeExists). The file appears complete or not at all.
func WriteNew(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create KEK directory %s: %w", dir, err)
	}
	if _, err := os.Lstat(path); err == nil {
		return exists(path)
	}
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	// A hard link fails if path exists, so a file created meanwhile is
	// never replaced.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return exists(path)
		}
		// Some file systems have no hard links; fall back to rename.
		if _, err := os.Lstat(path); err == nil {
			return exists(path)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write KEK file %s: %w", path, err)
		}
	}
	return syncDir(dir)
}

func exists(path string) error {
	return &confidant.Error{Kind: confidant.KindConflict, Code: CodeExists,
		Message: fmt.Sprintf("KEK file %s already exists; refusing to overwrite it", path)}
}

// Replace atomically replaces the file at path with data (mode 0600):
// temporary file, fsync, rename, fsync of the directory.
func Replace(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replace KEK file %s: %w", path, err)
	}
	return syncDir(dir)
}

// writeTemp writes data to a new 0600 temporary file in dir, synced and
// closed, and returns its name.
func writeTemp(dir string, data []byte) (name string, err error) {
	f, err := os.CreateTemp(dir, ".kek-*.tmp")
	if err != nil {
		return "", fmt.Errorf("write KEK file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return "", fmt.Errorf("write KEK file in %s: %w", dir, err)
	}
	if _, err := f.Write(data); err != nil {
		return "", fmt.Errorf("write KEK file in %s: %w", dir, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync KEK file in %s: %w", dir, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write KEK file in %s: %w", dir, err)
	}
	return f.Name(), nil
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync KEK directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync KEK directory %s: %w", dir, err)
	}
	return nil
}
