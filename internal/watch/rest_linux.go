package watch

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
)

// rest returns what a pass used to the system before the loop sleeps: the
// heap's free pages (the collection also ends the first pass's collector
// floor, internal/gcfloor, which suits a short-lived process, not one that
// stays up), and the pages of the binary's code and read-only data that
// the start and the pass touched. Those are the file's own pages, still
// in the page cache; what a later pass runs is faulted back in from
// there. The writable mappings are left alone.
func rest() {
	debug.FreeOSMemory()
	self, err := os.Executable()
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00c4f000 r-xp 00000000 08:01 1234   /initbox
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != self || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED)
	}
}
