/* gen/kernel.h: private to kernel.c (the nest printer), vector.c (its SIMD statements) and
 * rebase.c (statements moved into the block's variables).
 *
 * A stage's block is printed by one Emit walking the nest. In vector mode (Emit.vec) the
 * stage's vectorized loop (Emit.vvar, the innermost loop, extent a multiple of the target's
 * width W) prints no loop: it is unrolled by chunks of W lanes, the variable bound to the
 * chunk's first lane (j*W), and every statement inside is printed by vector.c as vector
 * statements of the target table (Gen.vt). Anything the table or the access pattern cannot
 * express sets Emit.vfail, and the stage keeps only its scalar nest.
 */
#ifndef WEFT_KERNEL_H
#define WEFT_KERNEL_H

#include "gen.h"

enum { MAX_CHAIN = 32, MAX_TPEND = 64, MAX_VGROUP = 16, VQ_MIN = -16, VQ_N = 48, VF_N = 48, MAX_PFLINES = 64 };

/* Loads of one tensor at constant distances from one another (vshift.c): vectors V_q at
   origin + q*W, each loaded once where first needed. */
typedef struct VGroup {
	int t;
	const char *p;          /* the tensor's pointer */
	const Ix *origin;       /* folded offset of the group's first load */
	int ind;                /* indentation of the block holding the V_q */
	unsigned snap;          /* closes below ind when the group was made */
	bool shifty;            /* probe: two offsets differ by a non-multiple of W */
	int nshift, nload;      /* loads derived by shifts, loads printed as loads */
	const char *v[VQ_N];    /* V_q at v[q - VQ_MIN], NULL until loaded */
	uint64_t valid[VQ_N];   /* its lanes read from memory (the others are 0) */
	int vind[VQ_N];         /* the indentation where it was declared (maybe below ind) */
	unsigned vsnap[VQ_N];   /* closes below that then */
	/* stride 2 and irregular lanes: vectors loaded where a tap's lanes begin (distance fd
	   from origin), off the grid of the V_q; as v, valid, vind, vsnap */
	int nfree;
	int64_t fd[VF_N];
	const char *fv[VF_N];
	uint64_t fvalid[VF_N];
	int find[VF_N];
	unsigned fsnap[VF_N];
} VGroup;

typedef struct Emit {
	Gen *G;
	const Prog *P;
	const Graph *g;
	int si;                 /* the stage of the block */
	const Stage *s;
	int64_t *extent;        /* per var */
	bool *bound;            /* per var: bound to a constant (unrolled, extent 1, vector chunk) */
	int64_t *value;         /* per var: that constant */
	bool *used, *written;   /* per tensor: accessed / stored in the block */
	int nextv;              /* next local weft_vN (weft_gN for gathers) */
	int nloc;               /* tensors whose value at the current point is in a local */
	int loc_tensor[MAX_CHAIN + 1];
	const char *loc_text[MAX_CHAIN + 1];
	/* vector mode */
	bool vec;               /* printing the SIMD branch */
	int vvar;               /* the vectorized loop's var, or -1 */
	int64_t W;              /* the target's lanes */
	bool vlive;             /* inside a chunk of vvar: statements are vector statements */
	bool vfail;             /* the SIMD branch cannot be printed; vwhy says why */
	bool peeled;            /* inside the two bodies of a loop whose last iteration is peeled */
	const char *vwhy;
	/* masked lanes: a chunk past the loop's end (a tail) or under a guard on the vectorized
	   loop holds only lanes [vlo, vhi); vmask is the table's mask of them (NULL: all lanes) */
	int64_t vtail;          /* lanes of the current chunk inside the loop's extent */
	bool vmask_pending;     /* the chunk's first level: its mask not made yet */
	const char *vmask, *vlo, *vhi;
	const char *vbits;      /* or the mask's lanes as a constant bit set (vlo, vhi NULL) */
	/* the lanes of vlo..vhi when the guards that make them are constants (a padding column of
	   an unrolled tap, a tail); vlo, vhi print the same either way */
	bool vlanes_known;
	uint64_t vlanes;
	int64_t vdelta[64];     /* an irregular access: each lane's distance from lane 0 */
	const char *vmask_decl[2 * IR_MAX_GUARDS + 2]; /* its declaration, printed at first use */
	int nvmask_decl;
	/* a writeback's strided stores (channel vectors into an NCHW output), held back while tdefer
	   and printed transposed by vec_flush_tstores; only those printed at indentation tind,
	   where their values stay in scope */
	bool tdefer;
	int tind;
	int ntpend;
	struct TPend {
		int t;
		const char *p, *val;
		const Ix *off;      /* offset of lane 0, folded */
		int64_t k;          /* distance between lanes */
	} tpend[MAX_TPEND];
	/* shifted loads (vshift.c): vprobe while a first rendering only records groups (probe),
	   then the real one shares the loads of the groups found shifty */
	bool vprobe;
	int nprobe, nvgroup;
	VGroup probe[MAX_VGROUP], vgroup[MAX_VGROUP];
	/* prefetch directives: the lines already fetched ahead in the body of the innermost loop
	   printed so far (kernel.c empties the list at each loop it opens) */
	int npfline;
	const char *pfline[MAX_PFLINES];
} Emit;

/* kernel.c, for vector.c */
const Ix *kernel_fold(const Emit *E, const Ix *e);      /* bound vars replaced, simplified */
const char *kernel_ix_c(const Emit *E, const Ix *e);    /* C text of an index */
const char *kernel_ptr(Emit *E, int t);                 /* C name of tensor t's first element */
bool kernel_overlap(const Emit *E, int a, int b);       /* do tensors a and b share a byte? */
const char *kernel_local(const Emit *E, int t);         /* the local holding t here, or NULL */
const char *kernel_fn_key(Fn fn);                       /* table key of a function */
const char *kernel_bin_key(Bin b);                      /* table key of a binary operator */
/* rebase.c: stage from's value and index in the block's stage's variables (unchanged when the
   scheduler already wrote them so); dies if from reads loops its host does not have. */
void kernel_rebase(const Emit *E, const Stage *from, const Val **val, const Ix **idx);

/* vector.c */
/* Can stage E->s have a SIMD branch on the target (vectorized innermost loop, width divides
   its extent, no guard on it, accumulators around it)? Sets E->vvar and E->W, or E->vwhy. */
bool vec_candidate(Emit *E);
/* Vector expression of v at the current chunk (pre-statements for gathers go out first). */
const char *vec_val(Emit *E, const Val *v);
/* The new value of "old op= v" (fma for += a*b). */
const char *vec_combine(Emit *E, Bin accum, const char *old, const Val *v);
/* tensor[idx] op= v at the current chunk: vector load/store, or gather/scatter by lanes. */
void vec_store_val(Emit *E, int t, const Ix *const *idx, Bin accum, const Val *v);
/* tensor[idx] = the vector text val. */
void vec_store(Emit *E, int t, const Ix *const *idx, const char *val);
/* Print the strided stores held back since tdefer was set: runs of stores at consecutive
   offsets (an unrolled pixel loop) as one transpose each (the table's @tstore), the rest lane
   by lane. */
void vec_flush_tstores(Emit *E);
/* The accumulator array's declaration, and the register of the current chunk. */
void vec_declare_acc(Emit *E);
const char *vec_acc_ref(Emit *E);
const char *vec_type(const Emit *E);
/* At the first level inside a chunk: the mask of the chunk's tail and of the guards mg[0..n)
   (each using the vectorized loop), declared here; false if no lane can hold. */
bool vec_open_mask(Emit *E, const Guard *const *mg, int n);
/* acc = the new value new_val, in the lanes of the mask only. */
const char *vec_masked_update(Emit *E, const char *acc, const char *new_val);
/* Mark the SIMD branch impossible (the first reason is kept). */
void vec_fail(Emit *E, const char *why);
/* The table's entry key with $1..$4 expanded; a missing entry fails the SIMD branch. */
const char *vec_tpl4(Emit *E, const char *key, const char *a1, const char *a2, const char *a3,
                     const char *a4);
/* The chunk's mask (E->vmask), its declaration printed here if this is its first use. */
const char *vec_use_mask(Emit *E);

/* vshift.c */
/* A vector load of tensor t (pointer p) at folded offset off (lane 0), coefficient 1, whose
   lanes are known here (lanes: the chunk's, all or a constant mask's): the text of a shared
   vector or of a shift of two, or NULL to load it as usual. */
const char *vshift_load(Emit *E, int t, const char *p, const Ix *off, uint64_t lanes);
const char *vshift_load2(Emit *E, int t, const char *p, const Ix *off, uint64_t lanes);
const char *vshift_loadx(Emit *E, int t, const char *p, const Ix *off, uint64_t lanes);

#endif
