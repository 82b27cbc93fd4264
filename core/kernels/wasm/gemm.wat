;; Single-precision matrix product for the CPU backend, written by hand in WebAssembly text with
;; SIMD128 (f32x4):
;;
;;   C = alpha * op(A) op(B) + beta * C,   op(X) = X or X^T,   row-major, op(A) m×k, op(B) k×n
;;
;; The structure is the classic cache-blocked GEMM: the k dimension is cut into blocks of KC, the
;; n dimension into blocks of NC and the m dimension into blocks of MC. Each block of op(B) and of
;; op(A) is copied ("packed") into a contiguous buffer laid out in the order the micro-kernel reads
;; it, so the micro-kernel only ever streams through memory, whatever the transposes are. A
;; transposed operand therefore costs only a different packing routine.
;;
;; The micro-kernel keeps an MR×NR = 4×8 tile of C in eight v128 locals while it runs over the
;; k block. Each step of k broadcasts 4 values of op(A) and loads 8 values of op(B), then does
;; 8 f32x4.mul and 8 f32x4.add. With the two B vectors and one broadcast that is 11 live vectors,
;; which fit the 16 XMM registers of x86-64 with room for V8's scratch registers. A 4×12 tile needs
;; 16 and spills: on a Zen 4 core under Node 20 it ran at about 24 GFLOP/s against 40 for 4×8.
;; The kernel uses mul + add rather than f32x4.relaxed_madd because Node 20 (V8 11.3) enables
;; relaxed SIMD only behind --experimental-wasm-relaxed-simd.
;;
;; Every pointer argument is a byte address in this module's memory, every leading dimension
;; (lda, ldb, ldc) is counted in elements. The caller owns the memory layout: it copies A, B and
;; C in, passes a workspace of at least `workspaceBytes()` bytes, and copies C out.

(module
  (memory (export "memory") 1)

  ;; Blocking sizes, in elements. MC is a multiple of MR and NC a multiple of NR, so only the last
  ;; micro-panel of a block can be partial. KC×NR floats of B (8 KiB) stay in L1 while the
  ;; micro-kernel walks down the packed A block (MC×KC floats, 128 KiB), which stays in L2.
  (global $MR i32 (i32.const 4))
  (global $NR i32 (i32.const 8))
  (global $KC i32 (i32.const 256))
  (global $MC i32 (i32.const 128))
  (global $NC i32 (i32.const 2048))

  ;; Bytes of workspace `gemm` needs: a packed A block, a packed B block, and one MR×NR tile used
  ;; to write back partial tiles at the edges of C.
  (func $workspaceBytes (export "workspaceBytes") (result i32)
    (i32.add
      (i32.mul (i32.mul (global.get $MC) (global.get $KC)) (i32.const 4))
      (i32.add
        (i32.mul (i32.mul (global.get $KC) (global.get $NC)) (i32.const 4))
        (i32.mul (i32.mul (global.get $MR) (global.get $NR)) (i32.const 4)))))

  (func $min (param $x i32) (param $y i32) (result i32)
    (select (local.get $x) (local.get $y) (i32.lt_s (local.get $x) (local.get $y))))

  ;; C[0:m, 0:n] = beta * C. beta = 0 stores zeros without reading C, so NaN or Inf already in C
  ;; does not leak into the result, as BLAS specifies.
  (func $scaleC (param $m i32) (param $n i32) (param $beta f32) (param $c i32) (param $ldc i32)
    (local $row i32) (local $ptr i32) (local $end i32) (local $vecEnd i32) (local $i i32)
    (local $betaVec v128)
    (local.set $betaVec (f32x4.splat (local.get $beta)))
    (local.set $row (local.get $c))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_s (local.get $i) (local.get $m)))
        (local.set $ptr (local.get $row))
        (local.set $end (i32.add (local.get $row) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $vecEnd (i32.add (local.get $row)
          (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))

        (if (f32.eq (local.get $beta) (f32.const 0))
          (then
            (block $zeroDone
              (loop $zeroVec
                (br_if $zeroDone (i32.ge_u (local.get $ptr) (local.get $vecEnd)))
                (v128.store (local.get $ptr) (v128.const i32x4 0 0 0 0))
                (local.set $ptr (i32.add (local.get $ptr) (i32.const 16)))
                (br $zeroVec)))
            (block $zeroTailDone
              (loop $zeroTail
                (br_if $zeroTailDone (i32.ge_u (local.get $ptr) (local.get $end)))
                (f32.store (local.get $ptr) (f32.const 0))
                (local.set $ptr (i32.add (local.get $ptr) (i32.const 4)))
                (br $zeroTail))))
          (else
            (block $scaleDone
              (loop $scaleVec
                (br_if $scaleDone (i32.ge_u (local.get $ptr) (local.get $vecEnd)))
                (v128.store (local.get $ptr)
                  (f32x4.mul (v128.load (local.get $ptr)) (local.get $betaVec)))
                (local.set $ptr (i32.add (local.get $ptr) (i32.const 16)))
                (br $scaleVec)))
            (block $scaleTailDone
              (loop $scaleTail
                (br_if $scaleTailDone (i32.ge_u (local.get $ptr) (local.get $end)))
                (f32.store (local.get $ptr)
                  (f32.mul (f32.load (local.get $ptr)) (local.get $beta)))
                (local.set $ptr (i32.add (local.get $ptr) (i32.const 4)))
                (br $scaleTail)))))

        (local.set $row (i32.add (local.get $row) (i32.shl (local.get $ldc) (i32.const 2))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

  ;; Packs op(A)[i0 : i0+mc, p0 : p0+kc] into micro-panels of MR rows. Micro-panel r contains,
  ;; for each p in turn, the MR values op(A)[i0 + r*MR + 0..MR-1, p0 + p], so the micro-kernel
  ;; reads it front to back. Rows past mc are zero, so the micro-kernel always computes a full
  ;; tile and only the write-back of an edge tile is partial.
  (func $packA (param $transA i32) (param $a i32) (param $lda i32) (param $i0 i32) (param $p0 i32)
               (param $mc i32) (param $kc i32) (param $dst i32)
    (local $ir i32) (local $rows i32) (local $ii i32) (local $p i32)
    (local $src i32) (local $out i32) (local $srcStep i32)
    (block $panelsDone
      (loop $panels
        (br_if $panelsDone (i32.ge_s (local.get $ir) (local.get $mc)))
        (local.set $rows (call $min (global.get $MR) (i32.sub (local.get $mc) (local.get $ir))))

        (if (local.get $transA)
          (then
            ;; A is stored k×m: the MR values for one p are contiguous, one row of A apart per p.
            (local.set $src (i32.add (local.get $a)
              (i32.shl
                (i32.add (i32.mul (local.get $p0) (local.get $lda))
                         (i32.add (local.get $i0) (local.get $ir)))
                (i32.const 2))))
            (local.set $srcStep (i32.shl (local.get $lda) (i32.const 2)))
            (local.set $out (local.get $dst))
            (local.set $p (i32.const 0))
            (if (i32.eq (local.get $rows) (global.get $MR))
              (then
                (block $copyDone
                  (loop $copy
                    (br_if $copyDone (i32.ge_s (local.get $p) (local.get $kc)))
                    (v128.store (local.get $out) (v128.load (local.get $src)))
                    (local.set $out (i32.add (local.get $out) (i32.const 16)))
                    (local.set $src (i32.add (local.get $src) (local.get $srcStep)))
                    (local.set $p (i32.add (local.get $p) (i32.const 1)))
                    (br $copy))))
              (else
                (block $edgeDone
                  (loop $edge
                    (br_if $edgeDone (i32.ge_s (local.get $p) (local.get $kc)))
                    (v128.store (local.get $out) (v128.const i32x4 0 0 0 0))
                    (local.set $ii (i32.const 0))
                    (block $lanesDone
                      (loop $lanes
                        (br_if $lanesDone (i32.ge_s (local.get $ii) (local.get $rows)))
                        (f32.store
                          (i32.add (local.get $out) (i32.shl (local.get $ii) (i32.const 2)))
                          (f32.load
                            (i32.add (local.get $src) (i32.shl (local.get $ii) (i32.const 2)))))
                        (local.set $ii (i32.add (local.get $ii) (i32.const 1)))
                        (br $lanes)))
                    (local.set $out (i32.add (local.get $out) (i32.const 16)))
                    (local.set $src (i32.add (local.get $src) (local.get $srcStep)))
                    (local.set $p (i32.add (local.get $p) (i32.const 1)))
                    (br $edge))))))
          (else
            ;; A is stored m×k: each of the MR rows is contiguous in p, so copy row by row into
            ;; every MR-th slot of the micro-panel.
            (local.set $ii (i32.const 0))
            (block $rowsDone
              (loop $rowsLoop
                (br_if $rowsDone (i32.ge_s (local.get $ii) (global.get $MR)))
                (local.set $out (i32.add (local.get $dst) (i32.shl (local.get $ii) (i32.const 2))))
                (local.set $p (i32.const 0))
                (if (i32.lt_s (local.get $ii) (local.get $rows))
                  (then
                    (local.set $src (i32.add (local.get $a)
                      (i32.shl
                        (i32.add
                          (i32.mul (i32.add (local.get $i0) (i32.add (local.get $ir) (local.get $ii)))
                                   (local.get $lda))
                          (local.get $p0))
                        (i32.const 2))))
                    (block $copyDone
                      (loop $copy
                        (br_if $copyDone (i32.ge_s (local.get $p) (local.get $kc)))
                        (f32.store (local.get $out) (f32.load (local.get $src)))
                        (local.set $out (i32.add (local.get $out) (i32.const 16)))
                        (local.set $src (i32.add (local.get $src) (i32.const 4)))
                        (local.set $p (i32.add (local.get $p) (i32.const 1)))
                        (br $copy))))
                  (else
                    (block $zeroDone
                      (loop $zero
                        (br_if $zeroDone (i32.ge_s (local.get $p) (local.get $kc)))
                        (f32.store (local.get $out) (f32.const 0))
                        (local.set $out (i32.add (local.get $out) (i32.const 16)))
                        (local.set $p (i32.add (local.get $p) (i32.const 1)))
                        (br $zero)))))
                (local.set $ii (i32.add (local.get $ii) (i32.const 1)))
                (br $rowsLoop)))))

        (local.set $dst (i32.add (local.get $dst)
          (i32.shl (i32.mul (global.get $MR) (local.get $kc)) (i32.const 2))))
        (local.set $ir (i32.add (local.get $ir) (global.get $MR)))
        (br $panels))))

  ;; Packs op(B)[p0 : p0+kc, j0 : j0+nc] into micro-panels of NR columns. Micro-panel r contains,
  ;; for each p in turn, the NR values op(B)[p0 + p, j0 + r*NR + 0..NR-1]. Columns past nc are
  ;; zero.
  (func $packB (param $transB i32) (param $b i32) (param $ldb i32) (param $p0 i32) (param $j0 i32)
               (param $kc i32) (param $nc i32) (param $dst i32)
    (local $jr i32) (local $cols i32) (local $jj i32) (local $p i32)
    (local $src i32) (local $out i32) (local $srcStep i32)
    (block $panelsDone
      (loop $panels
        (br_if $panelsDone (i32.ge_s (local.get $jr) (local.get $nc)))
        (local.set $cols (call $min (global.get $NR) (i32.sub (local.get $nc) (local.get $jr))))

        (if (i32.eqz (local.get $transB))
          (then
            ;; B is stored k×n: the NR values for one p are contiguous, one row of B apart per p.
            (local.set $src (i32.add (local.get $b)
              (i32.shl
                (i32.add (i32.mul (local.get $p0) (local.get $ldb))
                         (i32.add (local.get $j0) (local.get $jr)))
                (i32.const 2))))
            (local.set $srcStep (i32.shl (local.get $ldb) (i32.const 2)))
            (local.set $out (local.get $dst))
            (local.set $p (i32.const 0))
            (if (i32.eq (local.get $cols) (global.get $NR))
              (then
                (block $copyDone
                  (loop $copy
                    (br_if $copyDone (i32.ge_s (local.get $p) (local.get $kc)))
                    (v128.store offset=0 (local.get $out) (v128.load offset=0 (local.get $src)))
                    (v128.store offset=16 (local.get $out) (v128.load offset=16 (local.get $src)))
                    (local.set $out (i32.add (local.get $out) (i32.const 32)))
                    (local.set $src (i32.add (local.get $src) (local.get $srcStep)))
                    (local.set $p (i32.add (local.get $p) (i32.const 1)))
                    (br $copy))))
              (else
                (block $edgeDone
                  (loop $edge
                    (br_if $edgeDone (i32.ge_s (local.get $p) (local.get $kc)))
                    (v128.store offset=0 (local.get $out) (v128.const i32x4 0 0 0 0))
                    (v128.store offset=16 (local.get $out) (v128.const i32x4 0 0 0 0))
                    (local.set $jj (i32.const 0))
                    (block $lanesDone
                      (loop $lanes
                        (br_if $lanesDone (i32.ge_s (local.get $jj) (local.get $cols)))
                        (f32.store
                          (i32.add (local.get $out) (i32.shl (local.get $jj) (i32.const 2)))
                          (f32.load
                            (i32.add (local.get $src) (i32.shl (local.get $jj) (i32.const 2)))))
                        (local.set $jj (i32.add (local.get $jj) (i32.const 1)))
                        (br $lanes)))
                    (local.set $out (i32.add (local.get $out) (i32.const 32)))
                    (local.set $src (i32.add (local.get $src) (local.get $srcStep)))
                    (local.set $p (i32.add (local.get $p) (i32.const 1)))
                    (br $edge))))))
          (else
            ;; B is stored n×k. A full panel takes the vectorised transpose; an edge panel
            ;; (fewer than NR columns left) is copied element by element below.
            (if (i32.eq (local.get $cols) (global.get $NR))
              (then
                (call $packBTransposedPanel
                  (i32.add (local.get $b)
                    (i32.shl
                      (i32.add (i32.mul (i32.add (local.get $j0) (local.get $jr)) (local.get $ldb)) (local.get $p0))
                      (i32.const 2)))
                  (i32.shl (local.get $ldb) (i32.const 2))
                  (local.get $kc)
                  (local.get $dst)))
              (else
                ;; B is stored n×k: each of the NR columns of op(B) is a contiguous row of B, so copy
                ;; it into every NR-th slot of the micro-panel.
                (local.set $jj (i32.const 0))
                (block $colsDone
                  (loop $colsLoop
                    (br_if $colsDone (i32.ge_s (local.get $jj) (global.get $NR)))
                    (local.set $out (i32.add (local.get $dst) (i32.shl (local.get $jj) (i32.const 2))))
                    (local.set $p (i32.const 0))
                    (if (i32.lt_s (local.get $jj) (local.get $cols))
                      (then
                        (local.set $src (i32.add (local.get $b)
                          (i32.shl
                            (i32.add
                              (i32.mul (i32.add (local.get $j0) (i32.add (local.get $jr) (local.get $jj)))
                                       (local.get $ldb))
                              (local.get $p0))
                            (i32.const 2))))
                        (block $copyDone
                          (loop $copy
                            (br_if $copyDone (i32.ge_s (local.get $p) (local.get $kc)))
                            (f32.store (local.get $out) (f32.load (local.get $src)))
                            (local.set $out (i32.add (local.get $out) (i32.const 32)))
                            (local.set $src (i32.add (local.get $src) (i32.const 4)))
                            (local.set $p (i32.add (local.get $p) (i32.const 1)))
                            (br $copy))))
                      (else
                        (block $zeroDone
                          (loop $zero
                            (br_if $zeroDone (i32.ge_s (local.get $p) (local.get $kc)))
                            (f32.store (local.get $out) (f32.const 0))
                            (local.set $out (i32.add (local.get $out) (i32.const 32)))
                            (local.set $p (i32.add (local.get $p) (i32.const 1)))
                            (br $zero)))))
                    (local.set $jj (i32.add (local.get $jj) (i32.const 1)))
                    (br $colsLoop)))))))

        (local.set $dst (i32.add (local.get $dst)
          (i32.shl (i32.mul (global.get $NR) (local.get $kc)) (i32.const 2))))
        (local.set $jr (i32.add (local.get $jr) (global.get $NR)))
        (br $panels))))

  ;; Packs one full micro-panel (NR = 8 columns of op(B)) of a B stored n×k, that is 8 rows of B
  ;; each contiguous in p, into kc groups of 8 values. Four steps of p at a time, each half of the
  ;; panel (4 rows) is loaded as four vectors, transposed in registers with shuffles, and stored
  ;; as four groups: vector loads and stores instead of one scalar copy per element. $src is the
  ;; byte address of the panel's first element, $ldbBytes the byte stride between rows of B.
  (func $packBTransposedPanel (param $src i32) (param $ldbBytes i32) (param $kc i32) (param $out i32)
    (local $p i32) (local $half i32) (local $row i32) (local $dst i32) (local $jj i32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (block $blocksDone
      (loop $blocks
        (br_if $blocksDone (i32.gt_s (i32.add (local.get $p) (i32.const 4)) (local.get $kc)))
        (local.set $half (i32.const 0))
        (block $halvesDone
          (loop $halves
            (br_if $halvesDone (i32.ge_s (local.get $half) (i32.const 2)))
            ;; Rows 4*half .. 4*half+3 of the panel, at columns p .. p+3 of B.
            (local.set $row (i32.add
              (i32.add (local.get $src) (i32.shl (local.get $p) (i32.const 2)))
              (i32.mul (i32.shl (local.get $half) (i32.const 2)) (local.get $ldbBytes))))
            (local.set $r0 (v128.load (local.get $row)))
            (local.set $r1 (v128.load (i32.add (local.get $row) (local.get $ldbBytes))))
            (local.set $r2 (v128.load (i32.add (local.get $row) (i32.shl (local.get $ldbBytes) (i32.const 1)))))
            (local.set $r3 (v128.load (i32.add (local.get $row) (i32.mul (local.get $ldbBytes) (i32.const 3)))))
            ;; t0 = r0[0] r1[0] r0[1] r1[1], t1 = r0[2] r1[2] r0[3] r1[3], and t2, t3 from r2, r3.
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r0) (local.get $r1)))
            (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r0) (local.get $r1)))
            (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r2) (local.get $r3)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r2) (local.get $r3)))
            ;; Group p+i holds r0[i] r1[i] r2[i] r3[i] in this half; groups are NR floats apart.
            (local.set $dst (i32.add (local.get $out)
              (i32.add (i32.shl (local.get $p) (i32.const 5)) (i32.shl (local.get $half) (i32.const 4)))))
            (v128.store offset=0 (local.get $dst)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
            (v128.store offset=32 (local.get $dst)
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
            (v128.store offset=64 (local.get $dst)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
            (v128.store offset=96 (local.get $dst)
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
            (local.set $half (i32.add (local.get $half) (i32.const 1)))
            (br $halves)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $blocks)))

    ;; The last kc mod 4 steps, one element at a time.
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_s (local.get $p) (local.get $kc)))
        (local.set $jj (i32.const 0))
        (block $lanesDone
          (loop $lanes
            (br_if $lanesDone (i32.ge_s (local.get $jj) (global.get $NR)))
            (f32.store
              (i32.add (local.get $out) (i32.shl (i32.add (i32.shl (local.get $p) (i32.const 3)) (local.get $jj)) (i32.const 2)))
              (f32.load
                (i32.add (i32.add (local.get $src) (i32.shl (local.get $p) (i32.const 2)))
                         (i32.mul (local.get $jj) (local.get $ldbBytes)))))
            (local.set $jj (i32.add (local.get $jj) (i32.const 1)))
            (br $lanes)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $tail))))

  ;; C[0:rows, 0:cols] += alpha * (packed A micro-panel) (packed B micro-panel) over kc steps,
  ;; with C at byte address $c and a row stride of $ldcBytes. kc must be at least 1. A partial
  ;; tile (rows < MR or cols < NR) goes through $tile so that no store lands outside C.
  (func $microKernel (param $ap i32) (param $bp i32) (param $kc i32) (param $c i32)
                     (param $ldcBytes i32) (param $alpha f32) (param $rows i32) (param $cols i32)
                     (param $tile i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $a v128) (local $b0 v128) (local $b1 v128)
    (local $alphaVec v128) (local $row i32) (local $i i32) (local $j i32)

    (loop $k
      (local.set $b0 (v128.load offset=0 (local.get $bp)))
      (local.set $b1 (v128.load offset=16 (local.get $bp)))

      (local.set $a (v128.load32_splat offset=0 (local.get $ap)))
      (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $a) (local.get $b1))))

      (local.set $a (v128.load32_splat offset=4 (local.get $ap)))
      (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $a) (local.get $b1))))

      (local.set $a (v128.load32_splat offset=8 (local.get $ap)))
      (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $a) (local.get $b1))))

      (local.set $a (v128.load32_splat offset=12 (local.get $ap)))
      (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $a) (local.get $b1))))

      (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
      (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
      (local.set $kc (i32.sub (local.get $kc) (i32.const 1)))
      (br_if $k (local.get $kc)))

    (local.set $alphaVec (f32x4.splat (local.get $alpha)))
    (local.set $c00 (f32x4.mul (local.get $c00) (local.get $alphaVec)))
    (local.set $c01 (f32x4.mul (local.get $c01) (local.get $alphaVec)))
    (local.set $c10 (f32x4.mul (local.get $c10) (local.get $alphaVec)))
    (local.set $c11 (f32x4.mul (local.get $c11) (local.get $alphaVec)))
    (local.set $c20 (f32x4.mul (local.get $c20) (local.get $alphaVec)))
    (local.set $c21 (f32x4.mul (local.get $c21) (local.get $alphaVec)))
    (local.set $c30 (f32x4.mul (local.get $c30) (local.get $alphaVec)))
    (local.set $c31 (f32x4.mul (local.get $c31) (local.get $alphaVec)))

    (if (i32.and (i32.eq (local.get $rows) (global.get $MR)) (i32.eq (local.get $cols) (global.get $NR)))
      (then
        (local.set $row (local.get $c))
        (v128.store offset=0 (local.get $row)
          (f32x4.add (v128.load offset=0 (local.get $row)) (local.get $c00)))
        (v128.store offset=16 (local.get $row)
          (f32x4.add (v128.load offset=16 (local.get $row)) (local.get $c01)))
        (local.set $row (i32.add (local.get $row) (local.get $ldcBytes)))
        (v128.store offset=0 (local.get $row)
          (f32x4.add (v128.load offset=0 (local.get $row)) (local.get $c10)))
        (v128.store offset=16 (local.get $row)
          (f32x4.add (v128.load offset=16 (local.get $row)) (local.get $c11)))
        (local.set $row (i32.add (local.get $row) (local.get $ldcBytes)))
        (v128.store offset=0 (local.get $row)
          (f32x4.add (v128.load offset=0 (local.get $row)) (local.get $c20)))
        (v128.store offset=16 (local.get $row)
          (f32x4.add (v128.load offset=16 (local.get $row)) (local.get $c21)))
        (local.set $row (i32.add (local.get $row) (local.get $ldcBytes)))
        (v128.store offset=0 (local.get $row)
          (f32x4.add (v128.load offset=0 (local.get $row)) (local.get $c30)))
        (v128.store offset=16 (local.get $row)
          (f32x4.add (v128.load offset=16 (local.get $row)) (local.get $c31)))
        (return)))

    ;; Partial tile: spill the whole tile, then add only the rows × cols part that lies in C.
    (v128.store offset=0 (local.get $tile) (local.get $c00))
    (v128.store offset=16 (local.get $tile) (local.get $c01))
    (v128.store offset=32 (local.get $tile) (local.get $c10))
    (v128.store offset=48 (local.get $tile) (local.get $c11))
    (v128.store offset=64 (local.get $tile) (local.get $c20))
    (v128.store offset=80 (local.get $tile) (local.get $c21))
    (v128.store offset=96 (local.get $tile) (local.get $c30))
    (v128.store offset=112 (local.get $tile) (local.get $c31))
    (block $rowsDone
      (loop $rowsLoop
        (br_if $rowsDone (i32.ge_s (local.get $i) (local.get $rows)))
        (local.set $row (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldcBytes))))
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $colsLoop
            (br_if $colsDone (i32.ge_s (local.get $j) (local.get $cols)))
            (f32.store
              (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2)))
              (f32.add
                (f32.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
                (f32.load
                  (i32.add (local.get $tile)
                    (i32.shl (i32.add (i32.mul (local.get $i) (global.get $NR)) (local.get $j))
                             (i32.const 2))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $colsLoop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rowsLoop))))

  ;; C = alpha * op(A) op(B) + beta * C for an m×k op(A), a k×n op(B) and an m×n C, all row-major
  ;; in this module's memory. transA / transB are 0 or 1. $work must point to workspaceBytes()
  ;; bytes that overlap none of A, B and C.
  (func $gemm (export "gemm")
              (param $transA i32) (param $transB i32) (param $m i32) (param $n i32) (param $k i32)
              (param $alpha f32) (param $a i32) (param $lda i32) (param $b i32) (param $ldb i32)
              (param $beta f32) (param $c i32) (param $ldc i32) (param $work i32)
    (local $packedA i32) (local $packedB i32) (local $tile i32)
    (local $jc i32) (local $nc i32) (local $pc i32) (local $kc i32) (local $ic i32) (local $mc i32)
    (local $jr i32) (local $ir i32) (local $ldcBytes i32) (local $cBlock i32)

    (if (i32.or (i32.le_s (local.get $m) (i32.const 0)) (i32.le_s (local.get $n) (i32.const 0)))
      (then (return)))

    ;; Scaling C by beta first lets every k block simply accumulate into C.
    (if (f32.ne (local.get $beta) (f32.const 1))
      (then (call $scaleC (local.get $m) (local.get $n) (local.get $beta) (local.get $c) (local.get $ldc))))
    (if (i32.or (i32.le_s (local.get $k) (i32.const 0)) (f32.eq (local.get $alpha) (f32.const 0)))
      (then (return)))

    (local.set $packedA (local.get $work))
    (local.set $packedB (i32.add (local.get $packedA)
      (i32.shl (i32.mul (global.get $MC) (global.get $KC)) (i32.const 2))))
    (local.set $tile (i32.add (local.get $packedB)
      (i32.shl (i32.mul (global.get $KC) (global.get $NC)) (i32.const 2))))
    (local.set $ldcBytes (i32.shl (local.get $ldc) (i32.const 2)))

    (block $jcDone
      (loop $jcLoop
        (br_if $jcDone (i32.ge_s (local.get $jc) (local.get $n)))
        (local.set $nc (call $min (global.get $NC) (i32.sub (local.get $n) (local.get $jc))))

        (local.set $pc (i32.const 0))
        (block $pcDone
          (loop $pcLoop
            (br_if $pcDone (i32.ge_s (local.get $pc) (local.get $k)))
            (local.set $kc (call $min (global.get $KC) (i32.sub (local.get $k) (local.get $pc))))
            (call $packB (local.get $transB) (local.get $b) (local.get $ldb) (local.get $pc)
                         (local.get $jc) (local.get $kc) (local.get $nc) (local.get $packedB))

            (local.set $ic (i32.const 0))
            (block $icDone
              (loop $icLoop
                (br_if $icDone (i32.ge_s (local.get $ic) (local.get $m)))
                (local.set $mc (call $min (global.get $MC) (i32.sub (local.get $m) (local.get $ic))))
                (call $packA (local.get $transA) (local.get $a) (local.get $lda) (local.get $ic)
                             (local.get $pc) (local.get $mc) (local.get $kc) (local.get $packedA))

                ;; One B micro-panel stays in L1 while the micro-kernel walks all A micro-panels.
                (local.set $jr (i32.const 0))
                (block $jrDone
                  (loop $jrLoop
                    (br_if $jrDone (i32.ge_s (local.get $jr) (local.get $nc)))
                    (local.set $cBlock (i32.add (local.get $c)
                      (i32.shl
                        (i32.add (i32.mul (local.get $ic) (local.get $ldc))
                                 (i32.add (local.get $jc) (local.get $jr)))
                        (i32.const 2))))
                    (local.set $ir (i32.const 0))
                    (block $irDone
                      (loop $irLoop
                        (br_if $irDone (i32.ge_s (local.get $ir) (local.get $mc)))
                        (call $microKernel
                          (i32.add (local.get $packedA)
                            (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 2)))
                          (i32.add (local.get $packedB)
                            (i32.shl (i32.mul (local.get $jr) (local.get $kc)) (i32.const 2)))
                          (local.get $kc)
                          (i32.add (local.get $cBlock) (i32.mul (local.get $ir) (local.get $ldcBytes)))
                          (local.get $ldcBytes)
                          (local.get $alpha)
                          (call $min (global.get $MR) (i32.sub (local.get $mc) (local.get $ir)))
                          (call $min (global.get $NR) (i32.sub (local.get $nc) (local.get $jr)))
                          (local.get $tile))
                        (local.set $ir (i32.add (local.get $ir) (global.get $MR)))
                        (br $irLoop)))
                    (local.set $jr (i32.add (local.get $jr) (global.get $NR)))
                    (br $jrLoop)))

                (local.set $ic (i32.add (local.get $ic) (global.get $MC)))
                (br $icLoop)))

            (local.set $pc (i32.add (local.get $pc) (global.get $KC)))
            (br $pcLoop)))

        (local.set $jc (i32.add (local.get $jc) (global.get $NC)))
        (br $jcLoop))))
)
