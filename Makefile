# crashsafe - crash-safe building blocks for shell scripts.
# make            build bin/
# make check      run the test suite (SAN=1: under ASan+UBSan)
# make install    PREFIX=/usr/local DESTDIR= (make uninstall: the reverse)
# make deb        the Debian package (debian/), tested and lintian-checked
# make lint       cppcheck, mandoc -Tlint, shellcheck

SHELL	 = /bin/bash
PREFIX	?= /usr/local
BINDIR	 = $(PREFIX)/bin
MANDIR	 = $(PREFIX)/share/man
DOCDIR	 = $(PREFIX)/share/doc/crashsafe
# bash-completion loads a command's completion from a file of its name.
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions

TOOLS	 = atomicappend atomicwrite retry sqlwal staleclean withlock
LIBSRC	 = lib/backoff.c lib/cleanup.c lib/commit.c lib/encode.c lib/rows.c \
	   lib/fsinfo.c lib/io.c lib/lock.c lib/metadata.c lib/msg.c \
	   lib/openfiles.c lib/parse.c lib/proc.c lib/resolve.c lib/spawn.c \
	   lib/guard.c lib/holder.c lib/start.c lib/path.c lib/par.c
MAN1	 = $(TOOLS:%=man/%.1)
MAN7	 = man/crashsafe.7

CC	?= cc
CFLAGS	?= -O2 -g
# -Werror is for our own builds: a distribution's (WERROR=) must not fail
# on a newer compiler's new warning.
WERROR	?= -Werror
WARN	 = -Wall -Wextra $(WERROR) -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
BSD_CFLAGS != pkg-config --cflags libbsd-overlay
BSD_LIBS   != pkg-config --libs libbsd-overlay
BSD_STATIC != pkg-config --static --libs libbsd-overlay
# libmount reads mount tables for staleclean alone (lib/openfiles.c): the
# other tools do not link it, as loading it would double their start-up.
MOUNT_CFLAGS != pkg-config --cflags mount
MOUNT_LIBS   != pkg-config --libs mount
# libcurl and jansson speak to etcd (lib/etcd.c), for withlock-etcd alone:
# withlock executes it for an etcd:// lock, so that a local lock loads
# neither (SPEC 8: within 1.2x flock(1)).
ETCD_CFLAGS != pkg-config --cflags libcurl jansson
ETCD_LIBS   != pkg-config --libs libcurl jansson

ifeq ($(SAN),1)
O	 = build-san
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	   -fno-omit-frame-pointer
else ifeq ($(FAULTS),1)
# make faults: the same code, retry linked dynamically so that the
# short-write shim can be preloaded into it.
O	 = build-faults
SANFLAGS =
else ifneq ($(PLANT),)
# make crashtest only: a build with a planted durability bug
# (PLANT=nofsync or nodirsync) that its replay must catch.
O	 = build-plant-$(PLANT)
SANFLAGS =
PLANTFLAGS = $(if $(filter nofsync,$(PLANT)),-DCS_PLANT_NO_FSYNC,-DCS_PLANT_NO_DIRSYNC)
else
O	 = .
SANFLAGS =
endif

# CPPFLAGS, CFLAGS and LDFLAGS are the builder's (GNU coding standards):
# dpkg-buildflags' _FORTIFY_SOURCE, stack protector, relro and now apply.
ALL_CFLAGS  = $(CPPFLAGS) -std=gnu11 -D_GNU_SOURCE $(WARN) $(BSD_CFLAGS) $(MOUNT_CFLAGS) -Ilib \
	      -fPIE $(CFLAGS) $(SANFLAGS) $(PLANTFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)

LIBOBJ	 = $(LIBSRC:lib/%.c=$(O)/obj/lib/%.o)
LIBA	 = $(O)/obj/libcrashsafe.a
BINS	 = $(TOOLS:%=$(O)/bin/%) $(O)/libexec/crashsafe/withlock-etcd
LIBEXECDIR = $(PREFIX)/libexec/crashsafe
UNIT	 = $(O)/obj/unit

all: $(BINS)

$(O)/obj/lib/%.o: lib/%.c lib/crashsafe.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/obj/cmd/%.o: cmd/%.c lib/crashsafe.h $(wildcard cmd/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBA): $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBOBJ)

$(O)/obj/lib/etcd.o: lib/etcd.c lib/crashsafe.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ETCD_CFLAGS) -c -o $@ $<

$(O)/obj/cmd/withlock-etcd.o: cmd/withlock.c lib/crashsafe.h cmd/withlock.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DCS_WITH_ETCD -c -o $@ $<

$(O)/libexec/crashsafe/withlock-etcd: $(O)/obj/cmd/withlock-etcd.o \
    $(O)/obj/cmd/withlock-options.o $(O)/obj/lib/etcd.o $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(O)/obj/cmd/withlock-options.o \
	    $(O)/obj/lib/etcd.o $(LIBA) \
	    $(BSD_LIBS) $(ETCD_LIBS) -lresolv -lpthread -lm

$(O)/bin/%: $(O)/obj/cmd/%.o $(O)/obj/cmd/%-options.o $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(BSD_LIBS) -lm

# retry is linked statically: loading shared libraries was half of its
# per-call overhead (SPEC 5 budgets 0.5 ms over the command itself).
# static-pie keeps ASLR (and hardening-check's PIE) at no start-up cost.
# The sanitizer build stays dynamic, as ASan needs.
$(O)/bin/sqlwal: $(O)/obj/cmd/sqlwal.o $(O)/obj/cmd/sqlwal-options.o $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(BSD_LIBS) -lsqlite3 -lm

$(O)/bin/staleclean: $(O)/obj/cmd/staleclean.o $(O)/obj/cmd/staleclean-options.o $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(BSD_LIBS) $(MOUNT_LIBS) -lm

ifeq ($(SAN)$(FAULTS),)
$(O)/bin/retry: $(O)/obj/cmd/retry.o $(O)/obj/cmd/retry-options.o $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -static-pie -o $@ $^ $(BSD_STATIC) -lm

# withlock too: SPEC 8 budgets 1.2x flock(1) for a whole local run.
$(O)/bin/withlock: $(O)/obj/cmd/withlock.o $(O)/obj/cmd/withlock-options.o $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -static-pie -o $@ $^ $(BSD_STATIC) -lm
endif

$(UNIT): tests/unit/unit.c $(LIBA)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -pthread -o $@ $^ $(BSD_LIBS) \
	    $(MOUNT_LIBS) -lm

$(O)/obj/fakenfs.so: tests/fakenfs.c
	$(CC) -shared -fPIC $(WARN) -o $@ $<

# The README's test command. Prints "N passed, N failed[, N skipped]" last.
check: $(BINS) $(UNIT) $(O)/obj/fakenfs.so $(O)/obj/shortio.so
	@CS_BIN=$(CURDIR)/$(O)/bin CS_UNIT=$(CURDIR)/$(UNIT) \
	    CS_SHORTIO=$(CURDIR)/$(O)/obj/shortio.so \
	    tests/run-tests tests/*.bats

install: $(BINS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man7
	install -d $(DESTDIR)$(LIBEXECDIR)
	install -m 755 $(TOOLS:%=$(O)/bin/%) $(DESTDIR)$(BINDIR)
	install -m 755 $(O)/libexec/crashsafe/withlock-etcd \
	    $(DESTDIR)$(LIBEXECDIR)
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7
	install -d $(DESTDIR)$(DOCDIR)
	install -m 644 README.md LICENSE $(DESTDIR)$(DOCDIR)
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 644 completions/crashsafe $(DESTDIR)$(BASHCOMPDIR)/atomicappend
	for t in $(filter-out atomicappend,$(TOOLS)); do \
	    ln -sf atomicappend $(DESTDIR)$(BASHCOMPDIR)/$$t || exit 1; \
	done

# What install put there, and the directories of ours it made.
uninstall:
	rm -f $(TOOLS:%=$(DESTDIR)$(BINDIR)/%) \
	    $(DESTDIR)$(LIBEXECDIR)/withlock-etcd \
	    $(MAN1:man/%=$(DESTDIR)$(MANDIR)/man1/%) \
	    $(MAN7:man/%=$(DESTDIR)$(MANDIR)/man7/%) \
	    $(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)$(DOCDIR)/LICENSE \
	    $(TOOLS:%=$(DESTDIR)$(BASHCOMPDIR)/%)
	-rmdir $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DOCDIR) 2> /dev/null

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	    --inline-suppr --std=c11 -D_GNU_SOURCE -Ilib \
	    --suppress=missingIncludeSystem lib cmd tests/unit tests/fakenfs.c tests/fuzz \
	    tests/faults bench
	mandoc -Tlint -Wwarning $(MAN1) $(MAN7)
	shellcheck -x scripts/* bench/bench bench/plot demo/demo tests/run-tests tests/crash/crashtest tests/crash/kill-sweep tests/crash/ext4-image tests/faults/faults tests/records/* .ci/run completions/crashsafe tests/helpers.bash tests/hostile.bash tests/examples.bash
	shellcheck -x -s bash tests/*.bats

clean:
	rm -rf obj bin libexec build-san build-plant-* build-faults tests/tmp

.PHONY: all check install uninstall lint clean
.SECONDARY: $(LIBOBJ) $(TOOLS:%=$(O)/obj/cmd/%.o) $(TOOLS:%=$(O)/obj/cmd/%-options.o) \
	    $(O)/obj/cmd/withlock-etcd.o \
	    $(O)/obj/lib/etcd.o

# The Debian package (debian/), built as a distribution builds it, tests
# and all; DEB_BUILD_OPTIONS=nocheck skips them and, through the nocheck
# profile, their build dependencies. The .deb lands here.
DEBVER  != dpkg-parsechangelog -S Version 2> /dev/null
DEBARCH != dpkg-architecture -qDEB_HOST_ARCH 2> /dev/null
DEBOUT	 = crashsafe_$(DEBVER)_$(DEBARCH)
deb:
	+dpkg-buildpackage -us -uc -b $(if $(filter nocheck,$(DEB_BUILD_OPTIONS)),-Pnocheck)
	mv ../$(DEBOUT).deb ../crashsafe-dbgsym_$(DEBVER)_$(DEBARCH).deb \
	    ../$(DEBOUT).buildinfo ../$(DEBOUT).changes .
	lintian --fail-on error,warning $(DEBOUT).changes

# make bench prints the points and curves and keeps the curves' data in
# obj/bench (BEFORE=DIR: an older build's bin directory, timed beside
# ours); make bench-plots draws that data with gnuplot into doc/bench
# (running the bench first if there is none).
bench: $(BINS) $(O)/obj/bench/insert1
	BENCH_BEFORE=$(BEFORE) bench/bench $(O)/bin $(O)/obj/bench

bench-plots:
	@[ -f $(O)/obj/bench/sqlwal-writers.tsv ] || $(MAKE) bench
	bench/plot $(O)/obj/bench doc/bench

$(O)/obj/bench/insert1: bench/insert1.c $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(BSD_LIBS) -lsqlite3 -lm

demo: $(BINS)
	demo/demo $(O)/bin

# libFuzzer harnesses for the library's parsers and encoders, for how sqlwal
# reads a script (sql), and for each tool's command line (argv_*: its
# cmd/TOOL-options.c), with ASan+UBSan; FUZZ_TIME seconds each
# (default 10), on a copy of the seeds. The argv harnesses get exit, err
# and errx wrapped so that a usage error returns to the fuzzer.
FUZZERS	 = duration codes parsers owner encode sql $(TOOLS:%=argv_%)
FUZZ_TIME ?= 10
FUZZ_WRAP = -Wl,--wrap=exit,--wrap=err,--wrap=errx,--wrap=fclose
fuzz:
	@mkdir -p obj/fuzz
	@for f in $(FUZZERS); do \
	    case $$f in argv_*) extra="cmd/$${f#argv_}-options.c $(FUZZ_WRAP) -lsqlite3" quiet=-close_fd_mask=3 ;; \
	    sql) extra="cmd/sqlwal-options.c -lsqlite3" quiet=-close_fd_mask=3 ;; \
	    *) extra= quiet= ;; esac; \
	    clang -g -O1 -fsanitize=fuzzer,address,undefined \
	        -fno-sanitize-recover=undefined -std=gnu11 -D_GNU_SOURCE \
	        $(BSD_CFLAGS) $(MOUNT_CFLAGS) -Ilib -o obj/fuzz/$$f \
	        tests/fuzz/fuzz_$$f.c $(LIBSRC) $(BSD_LIBS) $(MOUNT_LIBS) -lm \
	        $$extra || exit 1; \
	    rm -rf obj/fuzz/$$f.corpus; cp -r tests/fuzz/corpus/$$f obj/fuzz/$$f.corpus; \
	    echo "fuzz $$f: $(FUZZ_TIME)s"; \
	    obj/fuzz/$$f -max_total_time=$(FUZZ_TIME) -print_final_stats=1 $$quiet \
	        obj/fuzz/$$f.corpus 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|Test unit' ; \
	    test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done
# Kill each tool at every system call it makes, and replay its trace into
# every state a power cut could leave; check its invariant on each. The
# replay must also catch two builds with a planted bug.
crashtest: $(BINS)
	$(MAKE) --no-print-directory PLANT=nofsync
	$(MAKE) --no-print-directory PLANT=nodirsync
	tests/crash/crashtest $(O)/bin build-plant-nofsync/bin build-plant-nodirsync/bin

# Every tool under ENOSPC, EIO (write, fsync), EROFS, EACCES, EFBIG, EINTR
# and short writes; prints the matrix.
faults:
	$(MAKE) --no-print-directory FAULTS=1 all build-faults/obj/shortio.so
	tests/faults/faults build-faults/bin build-faults/obj/shortio.so

$(O)/obj/shortio.so: tests/faults/shortio.c
	$(CC) -shared -fPIC $(WARN) -o $@ $<

.PHONY: bench bench-plots demo deb fuzz crashtest faults
