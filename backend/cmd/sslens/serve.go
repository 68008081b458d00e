package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/server"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/backend/webapp"
	"github.com/sslens/sslens/configs"
	"github.com/sslens/sslens/shared"
)

func init() {
	register(command{
		name:    "serve",
		summary: "serve the portal: web app, JSON and websocket API, job queue",
		usage: `[--addr 127.0.0.1:8080] [--data DIR] [--db FILE] [flags]

DIR (default $SSLENS_HOME, else ~/.local/share/sslens) holds the database,
datasets, run folders, uploads and caches. On first start (no accounts, no
datasets) serve creates the admin account and prints its one-time password,
queues the simulation of the default dataset (DIR/datasets/sim-hsc) and
then the quick ViT-N/8 supervised baseline, so that uploads can be scored
once it finishes. SIGINT or SIGTERM stops gracefully: running jobs save a
checkpoint and are marked interrupted, to be resumed from the portal.

Browsers may use the portal from the address they connect to (http://IP:PORT,
and localhost on loopback) and from each --origin; a public name or a
reverse proxy needs --origin with the URL people open. Behind a proxy, name
it with --trusted-proxy so that client addresses (for sign-in back-off and
connection caps) are read from its X-Forwarded-For header.`,
		run: func(fs *flag.FlagSet, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, fs, args, os.Stdout)
		},
	})
}

// defaultDataDir is $SSLENS_HOME, else ~/.local/share/sslens.
func defaultDataDir() string {
	if d := os.Getenv("SSLENS_HOME"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "sslens-data"
	}
	return filepath.Join(home, ".local", "share", "sslens")
}

// portal returns the browser app's handler for webDir, or nil (the API
// alone, with a placeholder page) when webDir has no app.wasm yet.
func portal(webDir string, log *slog.Logger) (http.Handler, error) {
	if _, err := os.Stat(filepath.Join(webDir, "app.wasm")); errors.Is(err, fs.ErrNotExist) {
		log.Warn("no app.wasm: serving the API only; run `make wasm` for the portal", "web", webDir)
		return nil, nil
	}
	return webapp.Handler(webapp.Options{WebDir: webDir})
}

// openDataStore resolves the data folder and opens its database (db, or
// DIR/sslens.db when empty).
func openDataStore(dir, db string) (string, *store.Store, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	st, err := store.Open(cmp.Or(db, filepath.Join(dir, "sslens.db")), store.Options{})
	return dir, st, err
}

func runServe(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	addr := fs.String("addr", "127.0.0.1:8080", "listen `ADDRESS` (host:port; port 0 picks a free one)")
	dataDir := fs.String("data", defaultDataDir(), "data `DIR`")
	db := fs.String("db", "", "database `FILE` (default DIR/sslens.db)")
	slots := fs.Int("slots", 1, "training jobs running at once (score batches have a slot of their own)")
	gpus := fs.Int("gpus", 0, "GPUs jobs may use, one each, beside the --slots: classifier runs whose config sets experiment.device cuda run on them (local: cuda:0 to cuda:N-1, which must exist; slurm: give the GPU with --slurm-kind-option finetune=--gres=gpu:1)")
	maxQueued := fs.Int("max-queued", jobs.DefaultMaxQueued, "most runs one astronomer may have queued at once, 0 for no cap (admins have none)")
	grace := fs.Duration("grace", 30*time.Second, "time a cancelled job gets to save its checkpoint before it is killed")
	tlsCert := fs.String("tls-cert", "", "TLS certificate `FILE` (with --tls-key): serve HTTPS, Secure cookies")
	tlsKey := fs.String("tls-key", "", "TLS key `FILE`")
	var origins []string
	fs.Func("origin", "a public `URL` browsers open the portal at (e.g. https://portal.example.org); repeatable", func(v string) error {
		origins = append(origins, v)
		return nil
	})
	fs.Func("origins", "`URLs` as --origin, comma-separated", func(v string) error {
		origins = append(origins, strings.Split(v, ",")...)
		return nil
	})
	var proxies []netip.Prefix
	fs.Func("trusted-proxy", "a reverse proxy's address or `CIDR` whose client header is believed; repeatable", func(v string) error {
		p, err := parsePrefix(v)
		proxies = append(proxies, p)
		return err
	})
	proxyHeader := fs.String("proxy-header", server.DefaultProxyHeader, "`HEADER` a trusted proxy names the client in")
	connCap := fs.Int("conns-per-addr", 100, "most concurrent connections from one client address")
	counts := fs.String("counts", "seed", "size preset of the default dataset simulated on first start (seed: 5050 images, small: 303)")
	adminName := fs.String("admin", "admin", "name of the admin account created on first start")
	uploadMB := fs.Int64("upload-mb", 50, "largest upload request, `MB`")
	uploadFiles := fs.Int("upload-files", 1000, "most files in one upload request, zip members included")
	zipMB := fs.Int64("zip-mb", 64, "largest uncompressed size of one uploaded zip archive, `MB`")
	openGrading := fs.Bool("open-grading", false, "show a candidate's grades to users who have not graded it yet (default: blind grading)")
	executor := fs.String("executor", "local", "where training and scoring jobs run: `local` child processes, or slurm batch jobs (the data folder and this binary must be on a file system the nodes share)")
	var sl slurmFlags
	sl.register(fs)
	jobMemory := fs.String("job-memory", "", "memory one training job may take, e.g. 12GiB: larger steps run in micro-batches, steps that cannot fit are refused (default: three quarters of the machine's memory divided by --slots; \"none\" for no limit)")
	webDir := fs.String("web", "web", "`DIR` holding the portal's app.wasm and assets (`make wasm` builds them)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || (*tlsCert == "") != (*tlsKey == "") || *slots < 1 || *gpus < 0 || *maxQueued < 0 || *uploadMB < 1 || *uploadFiles < 1 || *zipMB < 1 || *connCap < 1 {
		return errUsage
	}
	jobBytes, err := jobMemoryBytes(*jobMemory, *slots, *executor == "slurm")
	if err != nil {
		return usage(fs, "%v", err)
	}
	if *gpus > 0 && *executor == "local" {
		if err := checkDevice(fmt.Sprintf("cuda:%d", *gpus-1), true); err != nil {
			return fmt.Errorf("--gpus %d: %w", *gpus, err)
		}
	}
	dir, st, err := openDataStore(*dataDir, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	hub := server.NewHub(st, server.HubOptions{})
	caps := map[shared.Role]int{} // --max-queued 0: no cap
	if *maxQueued > 0 {
		caps[shared.RoleAstronomer] = *maxQueued
	}
	var ex jobs.Executor = &jobs.Local{Exe: exe}
	switch *executor {
	case "local":
	case "slurm":
		if ex, err = sl.executor(exe); err != nil {
			return usage(fs, "%v", err)
		}
	default:
		return usage(fs, "--executor %q: want local or slurm", *executor)
	}
	mgr := jobs.New(st, ex, hub, jobs.Options{
		DataDir: dir, Slots: *slots, GPUs: *gpus, MaxQueued: caps, Grace: *grace, Log: log, Configs: configs.FS, JobMemory: jobBytes,
		Available: func(sub string) bool { _, ok := lookup(sub); return ok },
	})
	if err := mgr.Recover(ctx); err != nil {
		return err
	}
	app, err := portal(*webDir, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	srv, err := server.New(server.Options{
		DataDir: dir, Store: st, Jobs: mgr, Hub: hub, Model: jobs.Tool{Exe: exe}, Configs: configs.FS, App: app,
		Secure: *tlsCert != "", Origins: append(origins, listenOrigins(scheme, *addr, ln.Addr())...), Version: version(), Log: log,
		TrustedProxies: proxies, ProxyHeader: *proxyHeader, ConnsPerAddress: *connCap,
		Uploads:     server.UploadLimits{RequestBytes: *uploadMB << 20, Files: *uploadFiles, ZipBytes: *zipMB << 20},
		OpenGrading: *openGrading, JobMemory: jobBytes, GPUs: *gpus,
	})
	if err != nil {
		return err
	}
	if err := bootstrap(ctx, st, srv, dir, *adminName, *counts, stdout); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "sslens: serving %s://%s (data %s)\n", scheme, ln.Addr(), dir)
	hs := srv.HTTPServer()
	runCtx, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- mgr.Run(runCtx) }()
	served := make(chan error, 1)
	go func() {
		if *tlsCert != "" {
			served <- hs.ServeTLS(srv.Listener(ln), *tlsCert, *tlsKey)
		} else {
			served <- hs.Serve(srv.Listener(ln))
		}
	}()
	select {
	case err = <-served: // failed to serve: stop the jobs too
	case <-ctx.Done():
	}
	fmt.Fprintln(stdout, "sslens: shutting down; running jobs save a checkpoint and stop")
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hub.Close()
	hs.Shutdown(shutCtx)
	stopJobs()
	return errors.Join(<-jobsDone, ignoreClosed(err))
}

// listenOrigins are the origins of a listen address given by name
// (--addr portal.lan:8080), with the port actually bound; an address given
// as an IP, or none, adds nothing: the server accepts the address each
// connection came in on by itself.
func listenOrigins(scheme, addr string, bound net.Addr) []string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	_, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return nil
	}
	return []string{scheme + "://" + net.JoinHostPort(host, port)}
}

// parsePrefix reads a CIDR, or a bare address as a prefix of its own.
func parsePrefix(v string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(v); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return p, fmt.Errorf("want an IP address or CIDR, got %q", v)
	}
	return p.Masked(), nil
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// version names the build for /api/health: the VCS revision it was built
// from (with "+dirty" for uncommitted changes), else "dev".
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	return cmp.Or(rev, "dev") + dirty
}

// defaultDataset is the dataset folder the first start simulates, the one
// `make run` made before the portal existed.
const defaultDataset = "sim-hsc"

// bootstrap makes a fresh data folder usable: the admin account (its
// password printed once), the default dataset (simulated, or registered if
// a previous version left it there) and the baseline classifier run.
func bootstrap(ctx context.Context, st *store.Store, srv *server.Server, dir, adminName, counts string, stdout io.Writer) error {
	n, err := st.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		pw := store.GeneratePassword()
		if _, err := st.CreateUser(ctx, adminName, shared.RoleAdmin, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "first start: created the admin account\n  user:     %s\n  password: %s\n", adminName, pw)
		fmt.Fprintf(stdout, "The password is shown only this once; change it with: sslens user passwd %s\n", adminName)
	}
	ds, err := st.Datasets(ctx)
	if err != nil || len(ds) > 0 {
		return err
	}
	rel := filepath.Join("datasets", defaultDataset)
	var after int64
	if data.SplitsFile(filepath.Join(dir, rel)) != "" {
		if _, err := st.CreateDataset(ctx, store.Dataset{Name: defaultDataset, Dir: rel, Kind: "simulated", Survey: "hsc"}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "first start: using the dataset in %s\n", filepath.Join(dir, rel))
	} else {
		j, err := srv.SimulateDataset(ctx, adminName, shared.CreateDatasetRequest{Name: defaultDataset, Survey: "hsc", Counts: counts, Seed: 1})
		if err != nil {
			return err
		}
		after = j.ID
		fmt.Fprintf(stdout, "first start: run %d simulates the default dataset (%s) into %s\n", j.ID, counts, filepath.Join(dir, rel))
	}
	b, err := fs.ReadFile(configs.FS, configs.Baseline)
	if err != nil {
		return err
	}
	j, err := srv.SubmitRun(ctx, adminName, shared.CreateRunRequest{Kind: shared.KindFinetune, Name: "baseline ViT-N/8 supervised", Config: string(b), After: after})
	if err != nil {
		return fmt.Errorf("queueing the baseline run: %w", err)
	}
	fmt.Fprintf(stdout, "first start: run %d trains the baseline classifier (%s) after it; uploads are scored once it succeeds\n", j.ID, configs.Baseline)
	return nil
}

// jobMemoryBytes is --job-memory in bytes: the value given, none, or by
// default three quarters of the machine's memory shared by the training
// slots (no limit where the machine's memory is unknown, or for cluster
// jobs, whose nodes are not this machine).
func jobMemoryBytes(flag string, slots int, cluster bool) (int64, error) {
	switch {
	case flag == "none", flag == "" && cluster:
		return 0, nil
	case flag == "":
		return physicalMemory() / 4 * 3 / int64(slots), nil
	}
	b, err := humanize.ParseBytes(flag)
	if err != nil || b == 0 || b > math.MaxInt64 {
		return 0, fmt.Errorf("--job-memory %q is not a memory size such as 12GiB, nor none", flag)
	}
	return int64(b), nil
}

// physicalMemory is the machine's memory in bytes from /proc/meminfo, 0
// where it cannot be read.
func physicalMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// slurmFlags are serve's settings of the Slurm executor.
type slurmFlags struct {
	options                          stringList
	partition, account, qos, timeLim string
	kindOptions                      map[shared.RunKind][]string
}

func (sl *slurmFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sl.partition, "slurm-partition", "", "with --executor slurm: the `PARTITION` jobs run in")
	fs.StringVar(&sl.account, "slurm-account", "", "with --executor slurm: the `ACCOUNT` jobs are charged to")
	fs.StringVar(&sl.qos, "slurm-qos", "", "with --executor slurm: the `QOS` of the jobs")
	fs.StringVar(&sl.timeLim, "slurm-time", "", "with --executor slurm: the jobs' time `LIMIT` (e.g. 24:00:00); a job stopped by it can resume from its checkpoint")
	fs.Var(&sl.options, "slurm-option", "with --executor slurm: an sbatch `OPTION` for every job (e.g. --mem=32G); repeatable")
	fs.Func("slurm-kind-option", "with --executor slurm: an sbatch option for one kind of job, `KIND=OPTION` (e.g. pretrain=--gres=gpu:1); repeatable", func(v string) error {
		kind, opt, ok := strings.Cut(v, "=")
		if !ok || !slices.Contains(shared.RunKinds, shared.RunKind(kind)) || !strings.HasPrefix(opt, "-") {
			return fmt.Errorf("%q is not KIND=OPTION with KIND one of %v", v, shared.RunKinds)
		}
		if sl.kindOptions == nil {
			sl.kindOptions = map[shared.RunKind][]string{}
		}
		sl.kindOptions[shared.RunKind(kind)] = append(sl.kindOptions[shared.RunKind(kind)], opt)
		return nil
	})
}

// executor builds the Slurm executor running exe; sbatch must be here.
func (sl *slurmFlags) executor(exe string) (*jobs.Slurm, error) {
	if _, err := exec.LookPath("sbatch"); err != nil {
		return nil, fmt.Errorf("--executor slurm: %v (install Slurm's client commands and point SLURM_CONF at the cluster)", err)
	}
	opts := []string{}
	for _, o := range []struct{ name, v string }{{"partition", sl.partition}, {"account", sl.account}, {"qos", sl.qos}, {"time", sl.timeLim}} {
		if o.v != "" {
			opts = append(opts, "--"+o.name+"="+o.v)
		}
	}
	return &jobs.Slurm{Exe: exe, Options: append(opts, sl.options...), KindOptions: sl.kindOptions}, nil
}
