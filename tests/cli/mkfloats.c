/* tests/cli/mkfloats.c: write N deterministic pseudo-random floats in [-1, 1) as raw
 * little-endian f32 to FILE (a test input for `weft run` and `weft ref`).
 * Usage: mkfloats N FILE [SEED]. Assumes a little-endian host with IEEE floats, as weft does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: mkfloats N FILE [SEED]\n");
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	uint64_t s = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
	FILE *f = fopen(argv[2], "wb");
	if (!f || n < 0) {
		perror(argv[2]);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		s = s * 6364136223846793005u + 1442695040888963407u; /* 64-bit LCG (Knuth's MMIX) */
		float v = (float)((double)(s >> 40) / (double)(1u << 24) * 2.0 - 1.0); /* 24 bits -> [-1, 1) */
		fwrite(&v, sizeof v, 1, f);
	}
	return fclose(f) != 0;
}
