/* What an install gives a C developer agrees with itself: the library
 * exports exactly the functions its installed header declares, the
 * installed manual page names each of them, and the installed pkg-config
 * file carries what a build needs (-pthread; libuv, jansson and libseccomp
 * for a static link). Everything is found relative to the library this
 * program was linked with, as the library finds srt-init, so a staged
 * install is checked as it is. tests/api/check_api.py compares the
 * source's header and manual page in detail; this checks the install. */
#include "common.h"

#include <dlfcn.h>
#include <elf.h>
#include <libgen.h>
#include <limits.h>
#include <sys/mman.h>

#define MAX_NAMES 128

struct names {
	char *v[MAX_NAMES];
	size_t n;
};

static void names_add(struct names *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->v[i]) == len && strncmp(s->v[i], name, len) == 0)
			return;
	if (s->n < MAX_NAMES)
		s->v[s->n++] = strndup(name, len);
}

static bool names_has(const struct names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return true;
	return false;
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

/* Names in a but not in b, for a diagnostic. */
static void diag_missing(const char *what, const struct names *a, const struct names *b)
{
	for (size_t i = 0; i < a->n; i++)
		if (!names_has(b, a->v[i]))
			diag("%s: %s", what, a->v[i]);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap) {
			char *b = realloc(buf, cap *= 2);
			if (!b) {
				free(buf);
				buf = NULL;
			}
			buf = b;
		}
	}
	fclose(f);
	if (buf)
		buf[len] = '\0';
	return buf;
}

static bool ident_char(char ch)
{
	return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* The functions a header declares: identifiers srt_* followed by "(",
 * outside comments. A function pointer type, "(*srt_event_fn)(", is
 * followed by ")" and so not one. */
static void header_functions(const char *text, struct names *out)
{
	char *code = strdup(text);
	if (!code)
		return;
	for (char *p = code; (p = strstr(p, "/*"));) {
		char *end = strstr(p + 2, "*/");
		size_t n = end ? (size_t)(end + 2 - p) : strlen(p);
		memset(p, ' ', n);
		p += n;
	}
	for (const char *p = code; (p = strstr(p, "srt_"));) {
		if (p > code && ident_char(p[-1])) {
			p += 4;
			continue;
		}
		const char *e = p;
		while (ident_char(*e))
			e++;
		const char *q = e;
		while (*q == ' ' || *q == '\t' || *q == '\n')
			q++;
		if (*q == '(')
			names_add(out, p, (size_t)(e - p));
		p = e;
	}
	free(code);
}

/* The functions and objects a shared library defines in its dynamic
 * symbol table (the version node, an absolute symbol, left out). */
static int library_exports(const char *path, struct names *out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) < 0) {
		fclose(f);
		return -EIO;
	}
	long size = ftell(f);
	void *map = size > 0 ? mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fileno(f), 0) : MAP_FAILED;
	fclose(f);
	if (map == MAP_FAILED)
		return -EIO;
	const unsigned char *base = map;
	const Elf64_Ehdr *eh = map;
	int r = -ENOEXEC;
	if ((size_t)size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > (uint64_t)size)
		goto out;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(base + eh->e_shoff);
	for (size_t i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
			continue;
		const Elf64_Shdr *str = &sh[sh[i].sh_link];
		if (sh[i].sh_offset + sh[i].sh_size > (uint64_t)size || str->sh_offset + str->sh_size > (uint64_t)size)
			goto out;
		const Elf64_Sym *sym = (const Elf64_Sym *)(base + sh[i].sh_offset);
		size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
		const char *names = (const char *)(base + str->sh_offset);
		for (size_t k = 0; k < n; k++) {
			unsigned bind = ELF64_ST_BIND(sym[k].st_info), type = ELF64_ST_TYPE(sym[k].st_info);
			if ((bind != STB_GLOBAL && bind != STB_WEAK) || sym[k].st_shndx == SHN_UNDEF ||
			    sym[k].st_shndx == SHN_ABS || (type != STT_FUNC && type != STT_OBJECT) ||
			    sym[k].st_name >= str->sh_size)
				continue;
			const char *name = names + sym[k].st_name;
			names_add(out, name, strnlen(name, str->sh_size - sym[k].st_name));
		}
		r = 0;
	}
out:
	munmap(map, (size_t)size);
	return r;
}

/* The text of one section (".SH NAME" to the next ".SH") of a manual page. */
static char *man_section(const char *page, const char *name)
{
	char head[64];
	snprintf(head, sizeof(head), "\n.SH %s\n", name);
	const char *p = strstr(page, head);
	if (!p)
		return NULL;
	p += strlen(head);
	const char *end = strstr(p, "\n.SH ");
	return strndup(p, end ? (size_t)(end - p) : strlen(p));
}

static bool has_word(const char *text, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = text; (p = strstr(p, word)); p += n)
		if ((p == text || !ident_char(p[-1])) && !ident_char(p[n]))
			return true;
	return false;
}

/* pkg-config's answer for the installed .pc, or NULL. */
static char *pkg_config(const char *pcdir, const char *args)
{
	char cmd[PATH_MAX + 256];
	snprintf(cmd, sizeof(cmd), "PKG_CONFIG_PATH='%s' pkg-config %s sandbox-runtime 2>&1", pcdir, args);
	FILE *p = popen(cmd, "r");
	if (!p)
		return NULL;
	char buf[4096];
	size_t len = fread(buf, 1, sizeof(buf) - 1, p);
	buf[len] = '\0';
	int st = pclose(p);
	if (st != 0) {
		diag("%s: exit %d: %s", cmd, st, buf);
		return NULL;
	}
	/* One line: --print-requires-private gives one per package. */
	for (char *q = buf; *q; q++)
		if (*q == '\n')
			*q = ' ';
	while (len > 0 && buf[len - 1] == ' ')
		buf[--len] = '\0';
	return strdup(buf);
}

/* " -pthread " as a whole flag of a pkg-config answer. */
static bool has_flag(const char *flags, const char *flag)
{
	size_t n = strlen(flag);
	for (const char *p = flags; (p = strstr(p, flag)); p += n)
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

int main(void)
{
	plan(12);

	Dl_info info;
	char lib[PATH_MAX], libdir[PATH_MAX], prefix[PATH_MAX + 8] = "", path[PATH_MAX + 64], pc[PATH_MAX + 96];
	bool found = dladdr((void *)srt_version, &info) && info.dli_fname && realpath(info.dli_fname, lib);
	if (!ok(found, "the library this program runs with: %s", found ? lib : "(not found)")) {
		skip(11, "no library");
		return done_testing();
	}
	snprintf(libdir, sizeof(libdir), "%s", lib);
	dirname(libdir);
	/* LIBDIR is PREFIX/lib or, multiarch, PREFIX/lib/TRIPLET. */
	static const char *const up[] = { "..", "../.." };
	for (size_t i = 0; i < 2 && !prefix[0]; i++) {
		snprintf(path, sizeof(path), "%s/%s/include/sandbox_runtime.h", libdir, up[i]);
		if (access(path, R_OK) == 0)
			snprintf(prefix, sizeof(prefix), "%s/%s", libdir, up[i]);
	}
	char *header = NULL;
	if (prefix[0]) {
		snprintf(path, sizeof(path), "%s/include/sandbox_runtime.h", prefix);
		header = read_all(path);
	}
	struct names fns = { 0 }, exported = { 0 };
	if (header)
		header_functions(header, &fns);
	ok(header && fns.n >= 20, "the installed header, %s, declares %zu functions", header ? path : "(not found)",
	   fns.n);

	int r = library_exports(lib, &exported);
	bool same = r == 0 && exported.n == fns.n;
	for (size_t i = 0; same && i < fns.n; i++)
		same = names_has(&exported, fns.v[i]);
	if (!ok(same, "the library exports exactly the header's functions (%zu exported, %zu declared)", exported.n,
		fns.n)) {
		if (r < 0)
			diag("reading %s: %s", lib, strerror(-r));
		diag_missing("exported, not declared", &exported, &fns);
		diag_missing("declared, not exported", &fns, &exported);
	}

	char *page = NULL;
	if (prefix[0]) {
		snprintf(path, sizeof(path), "%s/share/man/man3/sandbox_runtime.3", prefix);
		page = read_all(path);
	}
	ok(page != NULL, "the manual page is installed: %s", path);
	char *name = page ? man_section(page, "NAME") : NULL;
	char *synopsis = page ? man_section(page, "SYNOPSIS") : NULL;
	char *errors = page ? man_section(page, "ERRORS") : NULL;
	bool named = name && synopsis && errors, listed = named, covered = named;
	for (size_t i = 0; named && i < fns.n; i++) {
		if (!has_word(name, fns.v[i]) || !has_word(synopsis, fns.v[i])) {
			diag("not in NAME and SYNOPSIS: %s", fns.v[i]);
			listed = false;
		}
		if (!has_word(errors, fns.v[i])) {
			diag("not in ERRORS: %s", fns.v[i]);
			covered = false;
		}
	}
	ok(listed, "its NAME and SYNOPSIS name every function of the header");
	ok(covered, "its ERRORS section says what each function returns or does with NULL");

	snprintf(path, sizeof(path), "%s/pkgconfig", libdir);
	snprintf(pc, sizeof(pc), "%s/sandbox-runtime.pc", path);
	if (access(pc, R_OK) < 0 || system("pkg-config --version >/dev/null 2>&1") != 0) {
		diag("no %s, or no pkg-config", pc);
		skip(6, "no pkg-config file or no pkg-config");
	} else {
		char *v = pkg_config(path, "--modversion");
		ok(v && strcmp(v, srt_version()) == 0, "pkg-config --modversion is srt_version() (%s, %s)",
		   v ? v : "(none)", srt_version());
		char *libs = pkg_config(path, "--libs");
		ok(libs && has_flag(libs, "-lsandbox_runtime") && has_flag(libs, "-pthread"),
		   "pkg-config --libs: -lsandbox_runtime -pthread (%s)", libs ? libs : "(none)");
		char *stat = pkg_config(path, "--static --libs");
		ok(stat && has_flag(stat, "-lsandbox_runtime") && has_flag(stat, "-pthread") && has_flag(stat, "-luv") &&
			   has_flag(stat, "-ljansson") && has_flag(stat, "-lseccomp"),
		   "pkg-config --static --libs adds libuv, jansson, libseccomp (%s)", stat ? stat : "(none)");
		char *cflags = pkg_config(path, "--cflags");
		ok(cflags && has_flag(cflags, "-pthread") && strstr(cflags, "/include"),
		   "pkg-config --cflags: the include folder and -pthread (%s)", cflags ? cflags : "(none)");
		char *req = pkg_config(path, "--print-requires-private");
		ok(req && strstr(req, "libuv") && strstr(req, "jansson") && strstr(req, "libseccomp"),
		   "Requires.private names libuv, jansson, libseccomp (%s)", req ? req : "(none)");
		/* A staged install (meson install --destdir) keeps the real
		 * prefix: the folder found must end with it. */
		char *inc = pkg_config(path, "--variable=includedir");
		char *pfx = pkg_config(path, "--variable=prefix");
		char want[PATH_MAX + 16], real[PATH_MAX];
		snprintf(want, sizeof(want), "%s/include", pfx ? pfx : "?");
		size_t rl = prefix[0] && realpath(prefix, real) ? strlen(real) : 0, pl = pfx ? strlen(pfx) : 0;
		ok(inc && strcmp(inc, want) == 0 && rl >= pl && pl > 0 && strcmp(real + rl - pl, pfx) == 0,
		   "the .pc file's prefix (%s) and includedir (%s) are where the header was installed (%s)",
		   pfx ? pfx : "(none)", inc ? inc : "(none)", rl ? real : "(none)");
		free(v);
		free(libs);
		free(stat);
		free(cflags);
		free(req);
		free(inc);
		free(pfx);
	}
	free(name);
	free(synopsis);
	free(errors);
	free(page);
	free(header);
	names_free(&fns);
	names_free(&exported);
	return done_testing();
}
