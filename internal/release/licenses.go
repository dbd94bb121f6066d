package release

// moduleLicense is the SPDX identifier of a module's licence, as read from
// the LICENSE files in the module cache by TestLicenses (which regenerates
// licenses_table.go with -update and fails when the table and the files
// disagree). "" means unknown.
func moduleLicense(path string) string {
	return licenseTable(path)
}
