package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// secretFiles are the data directory's files that hold secrets (the
// database holds sealed keys and hashed secrets); ca.pem is public.
var secretFiles = []string{dbFile, dbFile + "-wal", dbFile + "-shm", "master.key", brokerCredsFile, adminCredsFile}

// prepareDataDir creates the data directory with mode 0700, or tightens
// an existing one (and the secret files in it) that others may read or
// write: with write access to the directory another user could replace
// the master key or the database. It refuses to go on, saying why, when
// it cannot tighten them.
func prepareDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data dir %s has mode %04o (others may read or write it) and cannot be tightened to 0700: %w; fix its mode or owner", dir, perm, err)
		}
		log.Warn("data dir was open to other users; tightened to 0700", "dir", dir, "was", fmt.Sprintf("%04o", perm))
	}
	for _, name := range secretFiles {
		path := filepath.Join(dir, name)
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 || !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file (a link?); the data dir's secret files must be the server's own", path)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return fmt.Errorf("%s has mode %04o and cannot be tightened to 0600: %w", path, perm, err)
			}
			log.Warn("a secret file was open to other users; tightened to 0600", "file", path, "was", fmt.Sprintf("%04o", perm))
		}
	}
	return nil
}
