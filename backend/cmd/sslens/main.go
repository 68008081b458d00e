// Command sslens simulates lensing datasets, trains and evaluates
// self-supervised Vision Transformers on them, and serves the portal.
//
// Run `sslens help` for the list of subcommands and `sslens CMD -h` for the
// flags of one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/sslens/sslens/backend/ssl"
)

// command is one subcommand. Each lives in its own file and adds itself to
// the table with register in an init function.
type command struct {
	name    string
	aliases []string // former names, still accepted by existing scripts and stored runs
	summary string   // one line for `sslens help`
	usage   string   // argument synopsis after the name, e.g. "[flags] DIR"
	run     func(fs *flag.FlagSet, args []string) error
}

var commands = map[string]command{}

// aliases maps each former command name to the command's name.
var aliases = map[string]string{}

func register(c command) {
	for _, n := range append([]string{c.name}, c.aliases...) {
		if _, ok := lookup(n); ok {
			panic("sslens: command registered twice: " + n)
		}
	}
	commands[c.name] = c
	for _, a := range c.aliases {
		aliases[a] = c.name
	}
}

// lookup finds a command by its name or a former name.
func lookup(name string) (command, bool) {
	if n, ok := aliases[name]; ok {
		name = n
	}
	c, ok := commands[name]
	return c, ok
}

// errUsage asks main to print the command's usage and exit 2.
var errUsage = errors.New("usage")

// usage prints a one-line complaint about the arguments of fs's command and
// returns errUsage.
func usage(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "sslens %s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	return errUsage
}

// exitCode is an error after which the process exits with a status of its
// own (130 for a run stopped by Ctrl-C) instead of 1.
type exitCode struct {
	code int
	err  error
}

func (e exitCode) Error() string { return e.err.Error() }

// interruptible runs a long command under a context that the first SIGINT or
// SIGTERM cancels (the command saves its state and stops; a second signal
// kills at once) and turns a run stopped that way into exit status 130.
func interruptible(run func(ctx context.Context) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := run(ctx)
	if errors.Is(err, ssl.ErrStopped) {
		return exitCode{130, err}
	}
	return err
}
func (e exitCode) Unwrap() error { return e.err }

func main() {
	tuneOpenBLAS()
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain runs one subcommand and returns the process exit status:
// 0 success, 1 failure, 2 bad usage.
func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := lookup(args[1]); ok {
				fs := newFlagSet(c, stdout)
				c.run(fs, []string{"-h"})
				return 0
			}
		}
		printHelp(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "sslens: unknown command %q; run 'sslens help'\n", args[0])
		return 2
	}
	fs := newFlagSet(c, stderr)
	err := c.run(fs, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fs.Usage()
		return 2
	}
	fmt.Fprintf(stderr, "sslens %s: %v\n", c.name, err)
	if ec, ok := errors.AsType[exitCode](err); ok {
		return ec.code
	}
	return 1
}

// newFlagSet returns the flag set a command parses its arguments with; its
// usage text names the command, its synopsis and every flag.
func newFlagSet(c command, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: sslens %s %s\n\n%s\n", c.name, c.usage, c.summary)
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(out, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "sslens: self-supervised learning on strong-lensing cutouts.")
	fmt.Fprintln(w, "\nusage: sslens COMMAND [flags] [args]\n\ncommands:")
	names, width := make([]string, 0, len(commands)), 0
	for n := range commands {
		names, width = append(names, n), max(width, len(n))
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(w, "  %-*s %s", width, n, c.summary)
		if len(c.aliases) > 0 {
			fmt.Fprintf(w, " (also %s)", strings.Join(c.aliases, ", "))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "\nRun 'sslens help COMMAND' or 'sslens COMMAND -h' for a command's flags.")
}

// parseFlags parses args, allowing flags after positional arguments
// (`sslens data check DIR --splits F`), and returns the positionals.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
