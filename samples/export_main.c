/* Uses the libraries written by samples/export_mlp.py (no Python at run time):
 *   libmlp.so        predict(x[100,784]) -> (probs[100,10], classes[100])
 *   libmlp_train.so  train_step(x[100,784], labels[100]) -> loss, with weights + Adam state inside
 * Usage: export_main DIR   (DIR holds test_images.f32 and test_labels.i32)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"
#include "mlp_train.h"

#define BATCH (MLP_INPUT0_SIZE / 784)

static void* read_file(const char* dir, const char* name, size_t* nbytes) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE* f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    *nbytes = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void* p = malloc(*nbytes);
    if (!p || fread(p, 1, *nbytes, f) != *nbytes) { fprintf(stderr, "cannot read %s\n", path); exit(1); }
    fclose(f);
    return p;
}

static void check(int rc, const char* what, const char* msg) {
    if (rc) { fprintf(stderr, "%s failed (%d): %s\n", what, rc, msg); exit(1); }
}

static double accuracy(const float* images, const int32_t* labels, int n) {
    static float probs[MLP_OUTPUT0_SIZE];
    static int32_t classes[MLP_OUTPUT1_SIZE];
    int correct = 0;
    for (int b = 0; b + BATCH <= n; b += BATCH) {
        check(mlp_run(images + (size_t)b * 784, probs, classes), "mlp_run", mlp_last_error());
        for (int i = 0; i < BATCH; i++) correct += classes[i] == labels[b + i];
    }
    return (double)correct / (n / BATCH * BATCH);
}

int main(int argc, char** argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s DIR\n", argv[0]); return 2; }
    size_t nx, ny;
    float* images = read_file(argv[1], "test_images.f32", &nx);
    int32_t* labels = read_file(argv[1], "test_labels.i32", &ny);
    int n = (int)(ny / sizeof(int32_t));

    /* The error convention: a NULL buffer is rejected with a code, not a crash. */
    int rc = mlp_run(NULL, NULL, NULL);
    printf("mlp_run(NULL, ...) = %d (%s): %s\n", rc, mlp_error_string(rc), mlp_last_error());

    printf("accuracy before: %.4f\n", accuracy(images, labels, n));

    /* Fine-tune in C on the first half of the test set, then copy the weights over. */
    float loss[1];
    for (int epoch = 0; epoch < 3; epoch++)
        for (int b = 0; b + BATCH <= n / 2; b += BATCH)
            check(mlp_train_run(images + (size_t)b * 784, labels + b, loss), "mlp_train_run", mlp_train_last_error());
    printf("training loss after 3 epochs in C: %.4f\n", loss[0]);
    for (int k = 0; k < mlp_num_variables(); k++) {
        const char* name = mlp_variable_name(k);
        size_t nb = mlp_variable_nbytes(name);
        void* buf = malloc(nb);
        check(mlp_train_get_variable(name, buf, nb), "get_variable", mlp_train_last_error());
        check(mlp_set_variable(name, buf, nb), "set_variable", mlp_last_error());
        free(buf);
    }
    printf("accuracy after: %.4f (fine-tuned half: %.4f, held-out half: %.4f)\n", accuracy(images, labels, n),
           accuracy(images, labels, n / 2), accuracy(images + (size_t)(n / 2) * 784, labels + n / 2, n - n / 2));
    free(images);
    free(labels);
    return 0;
}
