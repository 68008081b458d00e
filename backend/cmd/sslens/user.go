package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

func init() {
	register(command{
		name:    "user",
		summary: "manage portal accounts: add, list, passwd, del",
		usage: `add [--admin] [--password-stdin] NAME | list | passwd [--password-stdin] NAME | del NAME  [--data DIR] [--db FILE]

add creates an astronomer (an admin with --admin); passwd sets a new
password and signs the user out everywhere. Without --password-stdin a
random password is generated and printed once. Works beside a running
server (same database).`,
		run: func(fs *flag.FlagSet, args []string) error {
			return runUser(context.Background(), fs, args, os.Stdin, os.Stdout)
		},
	})
}

func runUser(ctx context.Context, fs *flag.FlagSet, args []string, stdin io.Reader, stdout io.Writer) error {
	dataDir := fs.String("data", defaultDataDir(), "data `DIR`")
	db := fs.String("db", "", "database `FILE` (default DIR/sslens.db)")
	isAdmin := fs.Bool("admin", false, "add: give the admin role")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errUsage
	}
	verb, names := pos[0], pos[1:]
	if (verb == "list") != (len(names) == 0) || len(names) > 1 {
		return errUsage
	}
	_, st, err := openDataStore(*dataDir, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	password := func() (string, bool, error) {
		if !*fromStdin {
			return store.GeneratePassword(), true, nil
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", false, err
		}
		return strings.TrimRight(line, "\r\n"), false, nil
	}
	const who = "(command line)"
	switch verb {
	case "add":
		role := shared.RoleAstronomer
		if *isAdmin {
			role = shared.RoleAdmin
		}
		pw, generated, err := password()
		if err != nil {
			return err
		}
		u, err := st.CreateUser(ctx, names[0], role, pw)
		if err != nil {
			return err
		}
		if err := st.Audit(ctx, who, "user.create", "user "+u.Name, "role "+string(role)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s (%s)\n", u.Name, u.Role)
		if generated {
			fmt.Fprintf(stdout, "password: %s\n(shown only this once)\n", pw)
		}
	case "passwd":
		pw, generated, err := password()
		if err != nil {
			return err
		}
		if err := st.SetPassword(ctx, names[0], pw); err != nil {
			return err
		}
		if err := st.Audit(ctx, who, "user.passwd", "user "+names[0], ""); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new password set for %s; their sessions are ended\n", names[0])
		if generated {
			fmt.Fprintf(stdout, "password: %s\n(shown only this once)\n", pw)
		}
	case "del":
		if err := st.DeleteUser(ctx, names[0]); err != nil {
			return err
		}
		if err := st.Audit(ctx, who, "user.delete", "user "+names[0], ""); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s\n", names[0])
	case "list":
		us, err := st.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "name\trole\tcreated\tlast sign-in")
		for _, u := range us {
			last := "never"
			if u.LastLogin != nil {
				last = u.LastLogin.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, u.Created.Local().Format(time.DateTime), last)
		}
		return tw.Flush()
	default:
		return errUsage
	}
	return nil
}
