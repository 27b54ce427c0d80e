# mimtools version and build settings; override any of these on the make
# command line (make PREFIX=$HOME/.local install).
VERSION = 0.1.0

PREFIX = /usr/local
MANPREFIX = $(PREFIX)/share/man

CC = cc
CPPFLAGS = -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DVERSION=\"$(VERSION)\"
CFLAGS = -std=c11 -Wall -Wextra -Wpedantic -O2 -g -pthread
LDFLAGS = -pthread

# external libraries, linked per tool (farbfeld style)
LIBZ = -lz
LIBARCHIVE = -larchive
LIBPNG = -lpng16
LIBJPEG = -ljpeg
LIBBLAS = -lopenblas
# LAPACK (dsyevr): Debian's OpenBLAS carries it; elsewhere -llapack -lblas
LIBLAPACK = $(LIBBLAS)
LIBM = -lm

# MPI, for make MPI=1 only: Debian's mpi-c is the default MPI (Open MPI)
MPI_CFLAGS = $(shell pkg-config --cflags mpi-c 2>/dev/null)
MPI_LIBS = $(shell pkg-config --libs mpi-c 2>/dev/null)
