/* The built-in list of paths that are never writable, and the scan that finds them in a writable root. */
#include "policy/mandatory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#define SCAN_PATH_MAX 4096

struct scan {
	int max_depth;
	bool allow_git_config;
	mandatory_cb cb;
	void *userdata;
	char path[SCAN_PATH_MAX];
};

static bool skipped_git_entry(const struct scan *s, const char *entry)
{
	return s->allow_git_config && strcmp(entry, ".git/config") == 0;
}

static bool lexists(int dirfd, const char *rel)
{
	struct stat st;
	return fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Call the callback for s->path[0..len) + "/" + rel. Paths that do not
 * fit are not reported: nothing can name them through a path either. */
static int emit(struct scan *s, size_t len, const char *rel, bool exists)
{
	size_t n = strlen(rel);
	if (len + 1 + n >= sizeof(s->path))
		return 0;
	s->path[len] = '/';
	memcpy(s->path + len + 1, rel, n + 1);
	int r = s->cb(s->path, exists, s->userdata);
	s->path[len] = '\0';
	return r;
}

/* Length of the first component of a list entry (".git" for ".git/hooks"),
 * or 0 when the entry is a single component. */
static size_t head_len(const char *entry)
{
	const char *slash = strchr(entry, '/');
	return slash ? (size_t)(slash - entry) : 0;
}

static bool is_link_at(int dirfd, const char *rel)
{
	struct stat st;
	return fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

/* The whole list in root, whether each path exists or not: these are the
 * paths the command could create. When the head of a two-component entry
 * is a link (.git -> elsewhere), the link itself is reported, once: a path
 * through it would be judged where the link points today, and the caller
 * decides what the link protects (mandatory_scan_link_target). */
static int report_root(struct scan *s, int fd, size_t len)
{
	int r;
	for (size_t i = 0; mandatory_deny_files[i]; i++)
		if ((r = emit(s, len, mandatory_deny_files[i], lexists(fd, mandatory_deny_files[i]))) != 0)
			return r;
	char last_head[32] = "";
	for (size_t i = 0; mandatory_deny_dirs[i]; i++) {
		const char *e = mandatory_deny_dirs[i];
		if (skipped_git_entry(s, e))
			continue;
		size_t h = head_len(e);
		if (h > 0 && h < sizeof(last_head)) {
			char head[sizeof(last_head)];
			memcpy(head, e, h);
			head[h] = '\0';
			if (strcmp(head, last_head) == 0)
				continue; /* the link was reported for the entry before */
			if (is_link_at(fd, head)) {
				memcpy(last_head, head, h + 1);
				if ((r = emit(s, len, head, true)) != 0)
					return r;
				continue;
			}
		}
		if ((r = emit(s, len, e, lexists(fd, e))) != 0)
			return r;
	}
	return 0;
}

static bool resource_error(int e);

static bool is_dot_entry(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* fdopendir failed on fd (taken): running out of resources is an error,
 * anything else (gone, unreadable) leaves the folder out. */
static int dir_open_failed(int fd)
{
	int e = errno;
	close(fd);
	return resource_error(e) ? -e : 0;
}

/* Open folder name below dirfd without following links; -1 when it
 * cannot be, with *ret_err set to -errno only for running out of
 * resources (skipping would leave paths unprotected). */
static int open_subdir(int dirfd, const char *name, int *ret_err)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && resource_error(errno))
		*ret_err = -errno;
	return fd;
}

/* Submodules keep their git folders in .git/modules/<name>/ (names may
 * have slashes, and submodules nest there too): each such folder has
 * hooks and a config that git runs and reads. Walk the tree below the
 * directory open as fd (taken) at s->path[0..len), bounded in depth. */
static int report_module_dirs(struct scan *s, int fd, size_t len, int depth)
{
	DIR *d = fdopendir(fd);
	if (!d)
		return dir_open_failed(fd);
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		if (is_dot_entry(name))
			continue;
		size_t nlen = strlen(name);
		if (len + 1 + nlen >= sizeof(s->path))
			continue;
		int cfd = open_subdir(dirfd(d), name, &r);
		if (cfd < 0) {
			if (r < 0)
				break;
			continue;
		}
		s->path[len] = '/';
		memcpy(s->path + len + 1, name, nlen + 1);
		size_t clen = len + 1 + nlen;
		if (lexists(cfd, "HEAD")) {
			/* a git folder */
			r = emit(s, clen, "hooks", lexists(cfd, "hooks"));
			if (!r && !s->allow_git_config)
				r = emit(s, clen, "config", lexists(cfd, "config"));
			int mfd = -1;
			if (!r && depth < 8 && (mfd = openat(cfd, "modules", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0 &&
			    clen + 8 < sizeof(s->path)) {
				memcpy(s->path + clen, "/modules", 9);
				r = report_module_dirs(s, mfd, clen + 8, depth + 1);
			} else if (mfd >= 0) {
				close(mfd);
			}
			close(cfd);
		} else if (depth < 8) {
			r = report_module_dirs(s, cfd, clen, depth + 1); /* a name with slashes */
		} else {
			close(cfd);
		}
		s->path[len] = '\0';
		if (r != 0)
			break;
	}
	closedir(d);
	return r;
}

/* The submodules of the repository whose work tree is open as fd (not
 * taken) at s->path[0..len). */
static int report_submodules(struct scan *s, int fd, size_t len)
{
	if (len + sizeof("/.git/modules") >= sizeof(s->path))
		return 0;
	int mfd = openat(fd, ".git/modules", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (mfd < 0)
		return resource_error(errno) ? -errno : 0;
	memcpy(s->path + len, "/.git/modules", sizeof("/.git/modules"));
	int r = report_module_dirs(s, mfd, len + sizeof("/.git/modules") - 1, 0);
	s->path[len] = '\0';
	return r;
}

/* An entry `name` of a directory below root: report it if it is
 * protected itself, or what it holds if it is the head of two-component
 * entries (.claude/commands). A ".git" directory makes a repository, whose
 * git entries are reported whether they exist or not (a hook can be
 * created); other two-component entries only when they exist. */
static int report_entry(struct scan *s, int fd, size_t len, const char *name, bool is_dir)
{
	int r;
	if (name[0] != '.')
		return 0; /* every protected name starts with a dot: the fast path */
	/* A .git file points at the repository's git folder elsewhere
	 * (worktrees, submodules): rewriting it would swap in other hooks. */
	if (!is_dir && strcmp(name, ".git") == 0)
		return emit(s, len, name, true);
	/* Likewise a link standing for the head of a two-component entry
	 * (.claude -> elsewhere): what it protects is decided where it leads. */
	if (!is_dir && strcmp(name, ".claude") == 0)
		return is_link_at(fd, name) ? emit(s, len, name, true) : 0;
	for (size_t i = 0; mandatory_deny_files[i]; i++)
		if (strcmp(name, mandatory_deny_files[i]) == 0)
			return emit(s, len, name, true);
	size_t nlen = strlen(name);
	for (size_t i = 0; mandatory_deny_dirs[i]; i++) {
		const char *e = mandatory_deny_dirs[i];
		size_t h = head_len(e);
		if (h == 0) {
			if (strcmp(name, e) == 0)
				return emit(s, len, name, true);
			continue;
		}
		if (!is_dir || h != nlen || memcmp(e, name, h) != 0 || skipped_git_entry(s, e))
			continue;
		bool exists = lexists(fd, e);
		if (exists || strcmp(name, ".git") == 0)
			if ((r = emit(s, len, e, exists)) != 0)
				return r;
	}
	if (is_dir && strcmp(name, ".git") == 0)
		return report_submodules(s, fd, len);
	return 0;
}

/* Does the walk go into this directory? Not into .git (its protected
 * parts are reported as entries), node_modules (huge, and srt never looked
 * there either), or protected folders (covered as a whole). */
static bool descend_into(const char *name)
{
	if (strcmp(name, "node_modules") == 0 || strcmp(name, ".git") == 0)
		return false;
	if (name[0] == '.')
		for (size_t i = 0; mandatory_deny_dirs[i]; i++)
			if (head_len(mandatory_deny_dirs[i]) == 0 && strcmp(name, mandatory_deny_dirs[i]) == 0)
				return false;
	return true;
}

static bool resource_error(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOMEM;
}

/* Examine the directory open as fd (takes ownership), at `level` below
 * root, whose path is s->path[0..len). */
static int scan_dir(struct scan *s, int fd, size_t len, int level)
{
	DIR *d = fdopendir(fd);
	if (!d)
		return dir_open_failed(fd);
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		if (is_dot_entry(name))
			continue;
		unsigned char type = de->d_type;
		if (type == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
		}
		bool is_dir = type == DT_DIR;
		/* Root's list was reported whole, existing or not. */
		if (level > 0 && (r = report_entry(s, dirfd(d), len, name, is_dir)) != 0)
			break;
		if (!is_dir || level >= s->max_depth || !descend_into(name))
			continue;
		size_t nlen = strlen(name);
		if (len + 1 + nlen >= sizeof(s->path))
			continue;
		int cfd = open_subdir(dirfd(d), name, &r);
		if (cfd < 0) {
			if (r < 0)
				break;
			continue; /* unreadable, or no longer a directory */
		}
		s->path[len] = '/';
		memcpy(s->path + len + 1, name, nlen + 1);
		r = scan_dir(s, cfd, len + 1 + nlen, level + 1);
		s->path[len] = '\0';
		if (r != 0)
			break;
	}
	closedir(d);
	return r;
}

int mandatory_scan(const char *root, int max_depth, bool allow_git_config,
		   mandatory_cb cb, void *userdata)
{
	if (!root || root[0] != '/' || !cb)
		return -EINVAL;
	size_t len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		len--;
	if (len == 1)
		len = 0; /* root "/": children are "/x", not "//x" */
	struct scan s = {
		.max_depth = max_depth < 0 ? 0 : max_depth,
		.allow_git_config = allow_git_config,
		.cb = cb,
		.userdata = userdata,
	};
	if (len + 1 >= sizeof(s.path))
		return -ENAMETOOLONG;
	memcpy(s.path, root, len);
	s.path[len] = '\0';

	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = report_root(&s, fd, len);
	/* Through a .git link the submodules belong to the link's target. */
	if (r == 0 && !is_link_at(fd, ".git"))
		r = report_submodules(&s, fd, len);
	if (r != 0) {
		close(fd);
		return r;
	}
	return scan_dir(&s, fd, len, 0);
}

int mandatory_scan_link_target(const char *name, const char *target, bool allow_git_config,
			       mandatory_cb cb, void *userdata)
{
	if (!name || !target || target[0] != '/' || !cb)
		return -EINVAL;
	bool git = strcmp(name, ".git") == 0, claude = strcmp(name, ".claude") == 0;
	if (!git && !claude) {
		struct stat st;
		return cb(target, lstat(target, &st) == 0, userdata);
	}
	size_t len = strlen(target);
	while (len > 1 && target[len - 1] == '/')
		len--;
	if (len == 1)
		len = 0;
	struct scan s = { .allow_git_config = allow_git_config, .cb = cb, .userdata = userdata };
	if (len + 1 >= sizeof(s.path))
		return -ENAMETOOLONG;
	memcpy(s.path, target, len);
	s.path[len] = '\0';

	/* Missing, or a file (a .git file naming a git folder elsewhere): the
	 * entries are reported as missing, and whoever holds them holds what
	 * stands in their way. */
	int fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && resource_error(errno))
		return -errno;
	int r;
	if (claude) {
		r = emit(&s, len, "commands", fd >= 0 && lexists(fd, "commands"));
		if (r == 0)
			r = emit(&s, len, "agents", fd >= 0 && lexists(fd, "agents"));
	} else {
		r = emit(&s, len, "hooks", fd >= 0 && lexists(fd, "hooks"));
		if (r == 0 && !allow_git_config)
			r = emit(&s, len, "config", fd >= 0 && lexists(fd, "config"));
		if (r == 0 && fd >= 0 && len + sizeof("/modules") < sizeof(s.path)) {
			int mfd = openat(fd, "modules", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (mfd >= 0) {
				memcpy(s.path + len, "/modules", sizeof("/modules"));
				r = report_module_dirs(&s, mfd, len + sizeof("/modules") - 1, 0);
				s.path[len] = '\0';
			} else if (resource_error(errno)) {
				r = -errno;
			}
		}
	}
	if (fd >= 0)
		close(fd);
	return r;
}
