//go:build !unix

package release

import "errors"

func lockUpdate(string) (func(), error) {
	return nil, errors.New("self-update is only supported on unix systems")
}
