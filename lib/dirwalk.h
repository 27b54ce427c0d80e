/* See LICENSE file for copyright and license details. */
/*
 * dirwalk: list the regular files of a directory tree, in a stable order.
 *
 * dir_list() walks root recursively and returns the regular files under
 * it as paths relative to root ("train/cat/1.png"), sorted by strcmp(3),
 * in a malloc'd array of malloc'd strings.  Names starting with '.' are
 * skipped, files and directories alike.  Symbolic links to directories
 * are never followed (so the walk cannot loop); a symbolic link to a
 * regular file is listed, as torchvision's ImageFolder would; dangling
 * links and other file types are skipped.  root itself may be a link.
 *
 * An empty tree gives *n = 0 and *paths = NULL.  On error nothing is
 * left allocated, *paths = NULL, *n = 0, and msg names the path that
 * failed with strerror ("data/train/cat: Permission denied").  Nothing
 * here exits or prints.
 */
#ifndef MIM_DIRWALK_H
#define MIM_DIRWALK_H

#include <stddef.h>

int dir_list(const char *root, char ***paths, size_t *n, char *msg,
             size_t msglen);
void dir_list_free(char **paths, size_t n);

#endif
