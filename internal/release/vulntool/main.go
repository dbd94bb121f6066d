// Command vulntool is the build's offline vulnerability tooling (see the
// Makefile's vulncheck target):
//
//	vulntool build -osv DIR -out DIR -source golang.org/x/vulndb@VERSION
//	    builds the database govulncheck -db file://DIR reads from the OSV
//	    entries of the golang.org/x/vulndb module;
//	vulntool gate -accept FILE < govulncheck.json
//	    fails when govulncheck found a reachable vulnerability that FILE
//	    does not accept (by id, until a date).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/talonclaw/talon/internal/release"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vulntool:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("want a subcommand: build or gate")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	switch args[0] {
	case "build":
		osv := fs.String("osv", "", "directory of GO-*.json OSV entries (golang.org/x/vulndb's data/osv)")
		out := fs.String("out", "", "database directory to write")
		source := fs.String("source", "", "module@version the entries come from (its pseudo-version dates the database)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *osv == "" || *out == "" || *source == "" {
			return fmt.Errorf("build: -osv, -out and -source are required")
		}
		m, err := release.BuildVulnDB(*osv, *out, *source)
		if err != nil {
			return err
		}
		fmt.Printf("vulndb: %d entries from %s (dated %s) in %s\n", m.Entries, m.Source, m.Modified.Format("2006-01-02"), *out)
		return nil
	case "gate":
		accept := fs.String("accept", "", "file of accepted vulnerabilities: GO-ID YYYY-MM-DD reason")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		var acc []release.Acceptance
		if *accept != "" {
			f, err := os.Open(*accept)
			if err != nil {
				return err
			}
			defer f.Close()
			if acc, err = release.ParseAcceptances(f); err != nil {
				return fmt.Errorf("%s: %w", *accept, err)
			}
		}
		found, err := release.ReachableVulns(os.Stdin)
		if err != nil {
			return err
		}
		ok, failing := release.Gate(found, acc, time.Now())
		for _, v := range ok {
			fmt.Printf("vulncheck: accepted until its date in %s: %s (fixed in %s) reached from %s\n", *accept, v.ID, v.Fixed, v.Where)
		}
		for _, v := range failing {
			fmt.Printf("vulncheck: REACHABLE %s (fixed in %s) from %s — upgrade, or accept it with a date and reason in %s\n", v.ID, v.Fixed, v.Where, *accept)
		}
		if len(failing) > 0 {
			return fmt.Errorf("%d reachable vulnerabilit(ies) not accepted", len(failing))
		}
		fmt.Printf("vulncheck: no unaccepted reachable vulnerability (%d accepted)\n", len(ok))
		return nil
	}
	return fmt.Errorf("unknown subcommand %q: want build or gate", args[0])
}
