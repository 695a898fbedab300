/* The built-in list of paths that are never writable, and the scan that finds them in a writable root. */
#include "policy/mandatory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const mandatory_deny_files[] = {
	".bashrc", ".bash_profile", ".zshrc", ".zprofile", ".profile",
	".gitconfig", ".gitmodules", ".ripgreprc", ".mcp.json", NULL,
};

const char *const mandatory_deny_dirs[] = {
	".vscode", ".idea", ".claude/commands", ".claude/agents", ".sandbox",
	".git/hooks", ".git/config", NULL,
};

struct scan {
	int max_depth;
	bool allow_git_config;
	mandatory_cb cb;
	void *userdata;
	char path[PATH_MAX];
};

static bool lexists(int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int report(struct scan *s, size_t len, const char *rel, bool exists)
{
	if (len + 1 + strlen(rel) >= sizeof(s->path))
		return 0;
	char save = s->path[len];
	s->path[len] = '/';
	strcpy(s->path + len + 1, rel);
	int r = s->cb(s->path, exists, s->userdata);
	s->path[len] = save;
	return r;
}

/* Report the full list (existing or not) in the folder at s->path[0..len). */
static int report_all(struct scan *s, int dirfd, size_t len)
{
	int r;
	for (size_t i = 0; mandatory_deny_files[i]; i++)
		if ((r = report(s, len, mandatory_deny_files[i], lexists(dirfd, mandatory_deny_files[i]))))
			return r;
	for (size_t i = 0; mandatory_deny_dirs[i]; i++) {
		if (s->allow_git_config && strcmp(mandatory_deny_dirs[i], ".git/config") == 0)
			continue;
		if ((r = report(s, len, mandatory_deny_dirs[i], lexists(dirfd, mandatory_deny_dirs[i]))))
			return r;
	}
	return 0;
}

static int report_git(struct scan *s, int dirfd, size_t len)
{
	int r = report(s, len, ".git/hooks", lexists(dirfd, ".git/hooks"));
	if (!r && !s->allow_git_config)
		r = report(s, len, ".git/config", lexists(dirfd, ".git/config"));
	return r;
}

static bool is_protected_name(const char *name)
{
	for (size_t i = 0; mandatory_deny_files[i]; i++)
		if (strcmp(name, mandatory_deny_files[i]) == 0)
			return true;
	for (size_t i = 0; mandatory_deny_dirs[i]; i++)
		if (!strchr(mandatory_deny_dirs[i], '/') && strcmp(name, mandatory_deny_dirs[i]) == 0)
			return true;
	return false;
}

/* Walk the folder open at dirfd (whose path is s->path[0..len)), at the
 * given level (root = 0). Takes ownership of dirfd. */
static int walk(struct scan *s, int dirfd, size_t len, int level)
{
	DIR *d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return 0;
	}
	int r = 0;
	bool has_claude = false;
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')))
			continue;
		if (level > 0 && is_protected_name(n))
			if ((r = report(s, len, n, true)))
				break;
		if (strcmp(n, ".claude") == 0)
			has_claude = true;
		if (level >= s->max_depth)
			continue;
		unsigned char t = e->d_type;
		if (t == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			t = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
		}
		if (t != DT_DIR || strcmp(n, "node_modules") == 0 || strcmp(n, ".git") == 0)
			continue;
		size_t nlen = strlen(n);
		if (len + 1 + nlen >= sizeof(s->path))
			continue;
		int sub = openat(dirfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		s->path[len] = '/';
		memcpy(s->path + len + 1, n, nlen + 1);
		if (lexists(sub, ".git"))
			r = report_git(s, sub, len + 1 + nlen);
		if (!r)
			r = walk(s, sub, len + 1 + nlen, level + 1);
		s->path[len] = '\0';
		if (r)
			break;
	}
	if (!r && has_claude && level > 0) {
		/* .claude/commands and .claude/agents below the root */
		if (lexists(dirfd, ".claude/commands"))
			r = report(s, len, ".claude/commands", true);
		if (!r && lexists(dirfd, ".claude/agents"))
			r = report(s, len, ".claude/agents", true);
	}
	closedir(d);
	return r;
}

int mandatory_scan(const char *root, int max_depth, bool allow_git_config,
		   mandatory_cb cb, void *userdata)
{
	struct scan s = { .max_depth = max_depth, .allow_git_config = allow_git_config,
			  .cb = cb, .userdata = userdata };
	size_t len = strlen(root);
	if (len >= sizeof(s.path))
		return -ENAMETOOLONG;
	memcpy(s.path, root, len + 1);
	if (len == 1)
		len = 0; /* root "/": children are "/x" */
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = report_all(&s, fd, len);
	if (r) {
		close(fd);
		return r;
	}
	return walk(&s, fd, len, 0);
}
