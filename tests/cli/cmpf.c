/* tests/cli/cmpf.c: compare two raw f32 files element by element with weft's result tolerance,
 * |got - want| <= 1e-4 + 1e-4 * |want|. Exit 0 when they match, 1 (with the first mismatch on
 * stdout) when they differ in size or value, 2 on bad usage or an unreadable file.
 * Usage: cmpf GOT WANT */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static float *read_floats(const char *path, long *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(2);
	}
	long cap = 1024, len = 0;
	float *v = malloc((size_t)cap * sizeof *v);
	float x;
	while (v && fread(&x, sizeof x, 1, f) == 1) {
		if (len == cap)
			v = realloc(v, (size_t)(cap *= 2) * sizeof *v);
		if (v)
			v[len++] = x;
	}
	if (!v) {
		fprintf(stderr, "cmpf: out of memory\n");
		exit(2);
	}
	fclose(f);
	*n = len;
	return v;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: cmpf GOT WANT\n");
		return 2;
	}
	long ng, nw;
	float *got = read_floats(argv[1], &ng);
	float *want = read_floats(argv[2], &nw);
	if (ng != nw) {
		printf("%s has %ld floats but %s has %ld\n", argv[1], ng, argv[2], nw);
		return 1;
	}
	for (long i = 0; i < ng; i++) {
		double g = got[i], w = want[i];
		if (!(fabs(g - w) <= 1e-4 + 1e-4 * fabs(w))) { /* also catches NaN */
			printf("element %ld: got %.9g, want %.9g\n", i, g, w);
			return 1;
		}
	}
	return 0;
}
