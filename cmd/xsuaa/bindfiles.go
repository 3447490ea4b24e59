package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/cmd/xsuaa/internal/api"
	"github.com/openxsuaa/xsuaa/keys"
)

// bind-service writes a binding where SAP's @sap/xsenv looks for it:
//
//   - --vcap FILE: as an entry of VCAP_SERVICES in a default-env.json (the
//     file xsenv.loadEnv() and the approuter read for local runs), merged
//     with what the file holds; or
//   - --binding-root DIR: as DIR/<service name>/, a servicebinding.io
//     directory with one file per credential and a .metadata file, as SAP's
//     BTP service operator mounts it (SERVICE_BINDING_ROOT=DIR). Without
//     .metadata xsenv would not see the tags, so getServices({uaa:{tag:
//     'xsuaa'}}) would find nothing.
//
// Both carry the label, plan, tags and instance name of a real XSUAA
// binding, plus binding_guid so that unbind-service knows what to delete.

// vcapEntry is one service in VCAP_SERVICES.
type vcapEntry struct {
	Label        string          `json:"label"`
	Plan         string          `json:"plan"`
	Name         string          `json:"name"`
	InstanceName string          `json:"instance_name"`
	InstanceGUID string          `json:"instance_guid"`
	BindingGUID  string          `json:"binding_guid"`
	BindingName  string          `json:"binding_name"`
	Tags         []string        `json:"tags"`
	Credentials  api.Credentials `json:"credentials"`
}

const defaultApp = "local"

func bindService(fs *flag.FlagSet) func(*cliEnv, []string) error {
	app := fs.String("app", defaultApp, "name of the app the binding is for (its binding's name)")
	params := fs.String("c", "", "binding parameters as a JSON `file` or inline JSON")
	vcap := fs.String("vcap", "", "write the binding into VCAP_SERVICES of this default-env.json `file` (created if missing, merged otherwise)")
	root := fs.String("binding-root", "", "write the binding as a servicebinding.io directory under this `dir` (SERVICE_BINDING_ROOT)")
	return func(e *cliEnv, args []string) error {
		if (*vcap == "") == (*root == "") {
			return usageError{"bind-service needs exactly one of --vcap FILE and --binding-root DIR"}
		}
		p, err := jsonParam("-c", *params)
		if err != nil {
			return err
		}
		c, in, err := e.service(args[0])
		if err != nil {
			return err
		}
		if b, err := e.findBinding(c, in, *app, false); err == nil && b.AppGUID != "" {
			return fmt.Errorf("service %q is already bound to app %q; unbind-service first (or use another --app)", in.Name, *app)
		}
		// Never overwrite a binding written before: its credential would
		// live on unseen.
		if *vcap != "" {
			if id, err := readVCAPBinding(*vcap, in.Name); err == nil {
				return fmt.Errorf("%s already holds binding %s of service %q; unbind-service --vcap %s first", *vcap, id, in.Name, *vcap)
			}
		} else if id, err := readBindingDirID(*root, in.Name); err == nil {
			return fmt.Errorf("%s already holds binding %s of service %q; unbind-service --binding-root %s first", filepath.Join(*root, in.Name), id, in.Name, *root)
		}
		id, creds, err := c.Bind(e.ctx, in, *app, *app, p)
		if err != nil {
			return err
		}
		entry := vcapEntry{
			Label: "xsuaa", Plan: in.Plan, Name: in.Name, InstanceName: in.Name, InstanceGUID: in.ID,
			BindingGUID: id, BindingName: *app, Tags: []string{"xsuaa"}, Credentials: creds,
		}
		var where string
		if *vcap != "" {
			err, where = writeVCAP(*vcap, entry), *vcap
		} else {
			err, where = writeBindingDir(*root, entry), filepath.Join(*root, in.Name)
		}
		if err != nil {
			// Leave nothing behind that nobody knows of.
			if uerr := c.Unbind(e.ctx, in, id); uerr != nil {
				return fmt.Errorf("%w (and deleting the new binding %s failed: %v)", err, id, uerr)
			}
			return err
		}
		if e.json {
			return e.printJSON(map[string]string{"service": in.Name, "app": *app, "binding_id": id, "written_to": where})
		}
		fmt.Fprintf(e.stdout, "Bound service %s to app %s; credentials written to %s.\n", in.Name, *app, where)
		return nil
	}
}

func unbindService(fs *flag.FlagSet) func(*cliEnv, []string) error {
	app := fs.String("app", defaultApp, "name of the app the binding is for")
	vcap := fs.String("vcap", "", "remove the binding from VCAP_SERVICES of this default-env.json `file`")
	root := fs.String("binding-root", "", "remove the binding's directory under this `dir`")
	return func(e *cliEnv, args []string) error {
		if *vcap != "" && *root != "" {
			return usageError{"give at most one of --vcap and --binding-root"}
		}
		c, in, err := e.service(args[0])
		if err != nil {
			return err
		}
		var id string
		switch {
		case *vcap != "":
			id, err = readVCAPBinding(*vcap, in.Name)
		case *root != "":
			id, err = readBindingDirID(*root, in.Name)
		default:
			var b registry.BindingSummary
			b, err = e.findBinding(c, in, *app, false)
			id = b.ID
		}
		if err != nil {
			return err
		}
		if err := c.Unbind(e.ctx, in, id); err != nil && !api.IsNotFound(err) {
			return err
		}
		switch {
		case *vcap != "":
			err = removeVCAP(*vcap, in.Name)
		case *root != "":
			dir := filepath.Join(*root, in.Name)
			if err = ownBindingDir(dir); err == nil {
				err = os.RemoveAll(dir)
			}
		}
		if err != nil {
			return fmt.Errorf("the binding is deleted, but removing it locally failed: %w", err)
		}
		if e.json {
			return e.printJSON(map[string]string{"service": in.Name, "binding_id": id})
		}
		fmt.Fprintf(e.stdout, "Unbound service %s (binding %s deleted).\n", in.Name, id)
		return nil
	}
}

// readEnvFile reads a default-env.json ({} if missing); see api.ParseEnv.
func readEnvFile(path string) (env map[string]json.RawMessage, vcap map[string][]json.RawMessage, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]json.RawMessage{}, map[string][]json.RawMessage{}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if env, vcap, err = api.ParseEnv(b); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return env, vcap, nil
}

func writeEnvFile(path string, env map[string]json.RawMessage, vcap map[string][]json.RawMessage) error {
	for label, list := range vcap {
		if len(list) == 0 {
			delete(vcap, label)
		}
	}
	v, err := json.Marshal(vcap)
	if err != nil {
		return err
	}
	env["VCAP_SERVICES"] = v
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	// The file holds secrets: owner only.
	return keys.WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// entryName returns the "name" of a VCAP_SERVICES entry.
func entryName(raw json.RawMessage) string {
	var e struct{ Name string }
	json.Unmarshal(raw, &e)
	return e.Name
}

// writeVCAP puts entry into the file's VCAP_SERVICES under "xsuaa",
// replacing an entry of the same name and keeping everything else.
func writeVCAP(path string, entry vcapEntry) error {
	env, vcap, err := readEnvFile(path)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	list := slices.DeleteFunc(vcap["xsuaa"], func(r json.RawMessage) bool { return entryName(r) == entry.Name })
	vcap["xsuaa"] = append(list, raw)
	return writeEnvFile(path, env, vcap)
}

func readVCAPBinding(path, name string) (string, error) {
	_, vcap, err := readEnvFile(path)
	if err != nil {
		return "", err
	}
	for _, r := range vcap["xsuaa"] {
		if entryName(r) == name {
			var e vcapEntry
			json.Unmarshal(r, &e)
			if e.BindingGUID == "" {
				return "", fmt.Errorf("%s: the entry of %q has no binding_guid; it was not written by bind-service", path, name)
			}
			return e.BindingGUID, nil
		}
	}
	return "", fmt.Errorf("%s has no xsuaa binding of service %q", path, name)
}

func removeVCAP(path, name string) error {
	env, vcap, err := readEnvFile(path)
	if err != nil {
		return err
	}
	vcap["xsuaa"] = slices.DeleteFunc(vcap["xsuaa"], func(r json.RawMessage) bool { return entryName(r) == name })
	return writeEnvFile(path, env, vcap)
}

// metaProp is one entry of a servicebinding.io .metadata file.
type metaProp struct {
	Name   string `json:"name"`
	Format string `json:"format"`
}

// writeBindingDir writes root/<entry.Name>/ atomically: a new directory
// is filled, then renamed over the old one.
func writeBindingDir(root string, entry vcapEntry) error {
	if strings.ContainsAny(entry.Name, `/\`) || entry.Name == "." || entry.Name == ".." || entry.Name == "" {
		return fmt.Errorf("service name %q cannot be a directory name", entry.Name)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	rnd := make([]byte, 6)
	rand.Read(rnd)
	tmp := filepath.Join(root, ".tmp-"+entry.Name+"-"+hex.EncodeToString(rnd))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var meta struct {
		MetaDataProperties   []metaProp `json:"metaDataProperties"`
		CredentialProperties []metaProp `json:"credentialProperties"`
	}
	write := func(name string, data []byte) error {
		return os.WriteFile(filepath.Join(tmp, name), data, 0o600)
	}
	tags, _ := json.Marshal(entry.Tags)
	for _, f := range []struct {
		name, format string
		data         []byte
	}{
		{"instance_name", "text", []byte(entry.InstanceName)},
		{"instance_guid", "text", []byte(entry.InstanceGUID)},
		{"binding_guid", "text", []byte(entry.BindingGUID)},
		{"binding_name", "text", []byte(entry.BindingName)},
		{"plan", "text", []byte(entry.Plan)},
		{"label", "text", []byte(entry.Label)},
		{"type", "text", []byte("xsuaa")},
		{"tags", "json", tags},
	} {
		if err := write(f.name, f.data); err != nil {
			return err
		}
		meta.MetaDataProperties = append(meta.MetaDataProperties, metaProp{f.name, f.format})
	}
	names := make([]string, 0, len(entry.Credentials))
	for k := range entry.Credentials {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if strings.ContainsAny(k, `/\`) || k == "" || k[0] == '.' {
			return fmt.Errorf("credential field %q cannot be a file name", k)
		}
		v := entry.Credentials[k]
		// Strings as text, everything else as JSON, as the BTP operator does.
		format, data := "json", []byte(v)
		var s string
		if json.Unmarshal(v, &s) == nil {
			format, data = "text", []byte(s)
		}
		if err := write(k, data); err != nil {
			return err
		}
		meta.CredentialProperties = append(meta.CredentialProperties, metaProp{k, format})
	}
	mb, _ := json.Marshal(meta)
	if err := write(".metadata", mb); err != nil {
		return err
	}
	dst := filepath.Join(root, entry.Name)
	if err := ownBindingDir(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	old := tmp + ".old"
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Rename(old, dst)
		return err
	}
	return os.RemoveAll(old)
}

// ownBindingDir returns nil when dir is a binding directory this CLI
// wrote (a directory, not a link, with a .metadata file and type
// "xsuaa"), an error wrapping os.ErrNotExist when there is nothing at
// dir, and otherwise an error saying that the CLI leaves dir alone: it
// never replaces or deletes what it did not write.
func ownBindingDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	typ, errType := os.ReadFile(filepath.Join(dir, "type"))
	_, errMeta := os.Lstat(filepath.Join(dir, ".metadata"))
	if !fi.IsDir() || errType != nil || errMeta != nil || strings.TrimSpace(string(typ)) != "xsuaa" {
		return fmt.Errorf("%s exists and is not a binding directory that xsuaa wrote (a directory with .metadata and type \"xsuaa\"); it is left alone: remove or rename it yourself, or choose another --binding-root", dir)
	}
	return nil
}

func readBindingDirID(root, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, name, "binding_guid"))
	if err != nil {
		return "", fmt.Errorf("no binding of service %q under %s: %w", name, root, err)
	}
	return strings.TrimSpace(string(b)), nil
}
