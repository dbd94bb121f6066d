//go:build !unix

package logging

func umask(int) int { return 0 }
