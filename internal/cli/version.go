package cli

import (
	"errors"
	"runtime/debug"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/release"
	"github.com/talonclaw/talon/internal/version"
)

func (a *app) versionCmd() *cobra.Command {
	var sbom bool
	c := &cobra.Command{
		Use:   "version [--sbom]",
		Short: "Print the talon version; --sbom prints this binary's CycloneDX SBOM",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sbom {
				bi, ok := debug.ReadBuildInfo()
				if !ok {
					return errors.New("version --sbom: this binary carries no build information (hint: build it with go build from the module)")
				}
				b, err := release.SBOM(bi, version.Current())
				if err != nil {
					return err
				}
				_, err = a.env.Stdout.Write(b)
				return err
			}
			v := version.Get()
			if a.json {
				return a.printJSON(v)
			}
			commit := ""
			if v.Commit != "" {
				commit = " " + v.Commit
			}
			a.outf("talon %s%s (%s %s/%s)\n", v.Version, commit, v.Go, v.OS, v.Arch)
			return nil
		},
	}
	c.Flags().BoolVar(&sbom, "sbom", false, "print the CycloneDX JSON SBOM of this binary (modules, versions, hashes, purls, licences)")
	return c
}
