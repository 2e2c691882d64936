/* tests/bench/mkmodels.c: writes one single-operator weft model per benchmark layer.
 *
 * usage: mkmodels DIR [--quick] [--filter REGEX]
 * For each selected layer of suite.h it writes DIR/NAME.weft and its weights blob DIR/NAME.bin
 * (the same values bench.c fills its peers with), and prints NAME on stdout. The filter is a
 * POSIX extended regex matched against the layer name and its network name.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>

#include "suite.h"

static void fail(const char *what, const char *path)
{
	fprintf(stderr, "mkmodels: %s %s\n", what, path);
	exit(1);
}

static void write_model(const Layer *L, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fail("cannot write", path);
	fprintf(f, "# benchmark layer %s of %s, written by tests/bench/mkmodels\n", L->name, L->net);
	fprintf(f, "model %s\nweights \"%s.bin\"\n", L->name, L->name);
	switch (L->kind) {
	case K_CONV:
		fprintf(f, "input x : f32[1, %d, %d, %d]\n", L->c, L->h, L->w);
		fprintf(f, "param w : f32[%d, %d, %d, %d]\n", L->k, L->c / L->groups, L->r, L->r);
		fprintf(f, "y = conv2d(x, w, stride=%d, pad=%d, groups=%d)\n", L->stride, L->pad, L->groups);
		break;
	case K_GEMM:
		fprintf(f, "input x : f32[%d, %d]\n", L->m, L->kk);
		fprintf(f, "param w : f32[%d, %d]\n", L->n, L->kk);
		fprintf(f, "y = dense(x, w)\n");
		break;
	case K_BMM:
		fprintf(f, "input x : f32[%d, %d, %d]\n", L->b, L->m, L->kk);
		fprintf(f, "param w : f32[%d, %d, %d]\n", L->b, L->kk, L->n);
		fprintf(f, "y = matmul(x, w)\n");
		break;
	}
	fprintf(f, "output y\n");
	if (fclose(f) != 0)
		fail("cannot write", path);
}

static void write_weights(const Layer *L, const char *path)
{
	size_t n = layer_w_elems(L);
	float *w = malloc(n * sizeof *w);
	if (!w)
		fail("out of memory for", path);
	layer_fill(L, 1, w, n); /* the host is little-endian (x86-64, AArch64) */
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(w, sizeof *w, n, f) != n || fclose(f) != 0)
		fail("cannot write", path);
	free(w);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *filter = NULL;
	bool quick = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--filter") && i + 1 < argc)
			filter = argv[++i];
		else if (!dir && argv[i][0] != '-')
			dir = argv[i];
		else {
			fprintf(stderr, "usage: mkmodels DIR [--quick] [--filter REGEX]\n");
			return 2;
		}
	}
	if (!dir) {
		fprintf(stderr, "usage: mkmodels DIR [--quick] [--filter REGEX]\n");
		return 2;
	}
	regex_t re;
	if (filter && *filter && regcomp(&re, filter, REG_EXTENDED | REG_NOSUB) != 0)
		fail("bad filter regex:", filter);
	for (int i = 0; i < NSUITE; i++) {
		const Layer *L = &suite[i];
		if (quick && !L->quick)
			continue;
		if (filter && *filter && regexec(&re, L->name, 0, NULL, 0) != 0 &&
		    regexec(&re, L->net, 0, NULL, 0) != 0)
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s.weft", dir, L->name);
		write_model(L, path);
		snprintf(path, sizeof path, "%s/%s.bin", dir, L->name);
		write_weights(L, path);
		printf("%s\n", L->name);
	}
	return 0;
}
