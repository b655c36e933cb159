/*
 * openapi.c — GET /openapi.json: an OpenAPI 3.0 document of every route the server has.
 *
 * Decisions: the paths are written from the route tables the router itself matches
 * against (route.h: Qdrant's, HEKTOR's and the service routes of http.c), so a route
 * cannot exist without being documented; each route names its request and result
 * schemas, which live here under components. The JSON routes' results are wrapped in
 * Qdrant's envelope; the others answer as their schema says (text, a stream, a file).
 */
#include <string.h>

#include "route.h"

/* Schemas of bodies and results. Kept as JSON text: the document is served as is. */
static const char k_schemas[] =
    "\"Error\":{\"type\":\"object\",\"properties\":{\"status\":{\"type\":\"object\",\"properties\":"
    "{\"error\":{\"type\":\"string\"}}},\"time\":{\"type\":\"number\"}}},"
    "\"Bool\":{\"type\":\"boolean\"},"
    "\"Text\":{\"type\":\"string\"},"
    "\"File\":{\"type\":\"string\",\"format\":\"binary\"},"
    "\"EventStream\":{\"type\":\"string\",\"description\":\"text/event-stream: 'event: stats' "
    "messages whose data is a ServerStats object\"},"
    "\"OpenAPI\":{\"type\":\"object\"},"
    "\"Version\":{\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\"},\"version\":"
    "{\"type\":\"string\"}}},"
    "\"Id\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9223372036854775807},"
    "\"Vector\":{\"type\":\"array\",\"items\":{\"type\":\"number\"}},"
    "\"Payload\":{\"type\":\"object\",\"additionalProperties\":true},"
    "\"Filter\":{\"type\":\"object\",\"description\":\"Qdrant filter: must, should, must_not with "
    "match, range, is_empty, is_null, has_id conditions\",\"properties\":{\"must\":{},\"should\":{},"
    "\"must_not\":{}}},"
    "\"WithPayload\":{\"oneOf\":[{\"type\":\"boolean\"},{\"type\":\"array\",\"items\":{\"type\":"
    "\"string\"}},{\"type\":\"object\",\"properties\":{\"include\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"string\"}},\"exclude\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}]},"
    "\"CollectionsList\":{\"type\":\"object\",\"properties\":{\"collections\":{\"type\":\"array\","
    "\"items\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}}}},"
    "\"CollectionInfo\":{\"type\":\"object\",\"properties\":{\"status\":{\"type\":\"string\"},"
    "\"points_count\":{\"type\":\"integer\"},\"indexed_vectors_count\":{\"type\":\"integer\"},"
    "\"segments_count\":{\"type\":\"integer\"},\"config\":{\"type\":\"object\"},\"payload_schema\":"
    "{\"type\":\"object\"}}},"
    "\"CreateCollection\":{\"type\":\"object\",\"required\":[\"vectors\"],\"properties\":{\"vectors\":"
    "{\"type\":\"object\",\"required\":[\"size\",\"distance\"],\"properties\":{\"size\":{\"type\":"
    "\"integer\",\"minimum\":1,\"maximum\":65536},\"distance\":{\"type\":\"string\",\"enum\":"
    "[\"Cosine\",\"Euclid\",\"Dot\"]},\"quantization_config\":{\"$ref\":"
    "\"#/components/schemas/QuantizationConfig\"}}},\"hnsw_config\":{\"type\":\"object\","
    "\"properties\":{\"m\":{\"type\":\"integer\"},\"ef_construct\":{\"type\":\"integer\"}}},"
    "\"quantization_config\":{\"$ref\":\"#/components/schemas/QuantizationConfig\"}}},"
    "\"QuantizationConfig\":{\"type\":\"object\",\"description\":\"one of scalar (int8: sq8 "
    "codes) or product (xN: 8-bit PQ with 4 * size / N bytes per point); binary is refused\","
    "\"properties\":{\"scalar\":{\"type\":\"object\",\"required\":[\"type\"],\"properties\":"
    "{\"type\":{\"type\":\"string\",\"enum\":[\"int8\"]},\"quantile\":{\"type\":\"number\","
    "\"minimum\":0.5,\"maximum\":1},\"always_ram\":{\"type\":\"boolean\"}}},\"product\":"
    "{\"type\":\"object\",\"required\":[\"compression\"],\"properties\":{\"compression\":"
    "{\"type\":\"string\",\"enum\":[\"x4\",\"x8\",\"x16\",\"x32\",\"x64\"]},\"always_ram\":"
    "{\"type\":\"boolean\"}}}}},"
    "\"UpdateCollection\":{\"type\":\"object\",\"properties\":{\"quantization_config\":"
    "{\"description\":\"a QuantizationConfig, or the string Disabled (drops the codes)\"},"
    "\"vectors\":{\"type\":\"object\",\"description\":\"{\\\"\\\": {quantization_config}} for "
    "the unnamed vector\"}}},"
    "\"Exists\":{\"type\":\"object\",\"properties\":{\"exists\":{\"type\":\"boolean\"}}},"
    "\"CreateFieldIndex\":{\"type\":\"object\",\"required\":[\"field_name\",\"field_schema\"],"
    "\"properties\":{\"field_name\":{\"type\":\"string\"},\"field_schema\":{\"type\":\"string\","
    "\"enum\":[\"keyword\",\"integer\",\"float\",\"bool\"]}}},"
    "\"UpdateResult\":{\"type\":\"object\",\"properties\":{\"operation_id\":{\"type\":\"integer\"},"
    "\"status\":{\"type\":\"string\",\"enum\":[\"completed\"]}}},"
    "\"PointsUpsert\":{\"type\":\"object\",\"properties\":{\"points\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"object\",\"properties\":{\"id\":{\"$ref\":\"#/components/schemas/Id\"},\"vector\":"
    "{\"$ref\":\"#/components/schemas/Vector\"},\"payload\":{\"$ref\":\"#/components/schemas/"
    "Payload\"}}}},\"batch\":{\"type\":\"object\",\"properties\":{\"ids\":{\"type\":\"array\"},"
    "\"vectors\":{\"type\":\"array\"},\"payloads\":{\"type\":\"array\"}}}}},"
    "\"PointRequest\":{\"type\":\"object\",\"required\":[\"ids\"],\"properties\":{\"ids\":{\"type\":"
    "\"array\",\"items\":{\"$ref\":\"#/components/schemas/Id\"}},\"with_payload\":{\"$ref\":"
    "\"#/components/schemas/WithPayload\"},\"with_vector\":{\"type\":\"boolean\"}}},"
    "\"Record\":{\"type\":\"object\",\"properties\":{\"id\":{\"$ref\":\"#/components/schemas/Id\"},"
    "\"payload\":{\"$ref\":\"#/components/schemas/Payload\"},\"vector\":{\"$ref\":"
    "\"#/components/schemas/Vector\"}}},"
    "\"RecordList\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Record\"}},"
    "\"PointsSelector\":{\"type\":\"object\",\"properties\":{\"points\":{\"type\":\"array\",\"items\":"
    "{\"$ref\":\"#/components/schemas/Id\"}},\"filter\":{\"$ref\":\"#/components/schemas/Filter\"}}},"
    "\"SetPayload\":{\"type\":\"object\",\"required\":[\"payload\"],\"properties\":{\"payload\":"
    "{\"$ref\":\"#/components/schemas/Payload\"},\"points\":{\"type\":\"array\"},\"filter\":{\"$ref\":"
    "\"#/components/schemas/Filter\"}}},"
    "\"DeletePayload\":{\"type\":\"object\",\"required\":[\"keys\"],\"properties\":{\"keys\":{\"type\":"
    "\"array\",\"items\":{\"type\":\"string\"}},\"points\":{\"type\":\"array\"},\"filter\":{\"$ref\":"
    "\"#/components/schemas/Filter\"}}},"
    "\"ScrollRequest\":{\"type\":\"object\",\"properties\":{\"filter\":{\"$ref\":\"#/components/"
    "schemas/Filter\"},\"limit\":{\"type\":\"integer\"},\"offset\":{\"$ref\":\"#/components/schemas/"
    "Id\"},\"with_payload\":{\"$ref\":\"#/components/schemas/WithPayload\"},\"with_vector\":"
    "{\"type\":\"boolean\"}}},"
    "\"ScrollResult\":{\"type\":\"object\",\"properties\":{\"points\":{\"$ref\":\"#/components/"
    "schemas/RecordList\"},\"next_page_offset\":{\"type\":\"integer\",\"nullable\":true}}},"
    "\"CountRequest\":{\"type\":\"object\",\"properties\":{\"filter\":{\"$ref\":\"#/components/"
    "schemas/Filter\"},\"exact\":{\"type\":\"boolean\"}}},"
    "\"CountResult\":{\"type\":\"object\",\"properties\":{\"count\":{\"type\":\"integer\"}}},"
    "\"SearchRequest\":{\"type\":\"object\",\"required\":[\"vector\"],\"properties\":{\"vector\":"
    "{\"$ref\":\"#/components/schemas/Vector\"},\"filter\":{\"$ref\":\"#/components/schemas/"
    "Filter\"},\"limit\":{\"type\":\"integer\"},\"offset\":{\"type\":\"integer\"},\"with_payload\":"
    "{\"$ref\":\"#/components/schemas/WithPayload\"},\"with_vector\":{\"type\":\"boolean\"},"
    "\"score_threshold\":{\"type\":\"number\"},\"params\":{\"type\":\"object\",\"properties\":"
    "{\"hnsw_ef\":{\"type\":\"integer\"},\"exact\":{\"type\":\"boolean\"},\"quantization\":"
    "{\"type\":\"object\",\"properties\":{\"ignore\":{\"type\":\"boolean\"},\"rescore\":"
    "{\"type\":\"boolean\"},\"oversampling\":{\"type\":\"number\",\"minimum\":1}}}}}}},"
    "\"ScoredPoint\":{\"type\":\"object\",\"properties\":{\"id\":{\"$ref\":\"#/components/schemas/"
    "Id\"},\"version\":{\"type\":\"integer\"},\"score\":{\"type\":\"number\"},\"payload\":{\"$ref\":"
    "\"#/components/schemas/Payload\"},\"vector\":{\"$ref\":\"#/components/schemas/Vector\"}}},"
    "\"ScoredPointList\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/"
    "ScoredPoint\"}},"
    "\"SearchBatchRequest\":{\"type\":\"object\",\"required\":[\"searches\"],\"properties\":"
    "{\"searches\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/SearchRequest\"}}}},"
    "\"ScoredPointLists\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/"
    "ScoredPointList\"}},"
    "\"RecommendRequest\":{\"type\":\"object\",\"required\":[\"positive\"],\"properties\":"
    "{\"positive\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Id\"}},"
    "\"negative\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Id\"}},\"strategy\":"
    "{\"type\":\"string\",\"enum\":[\"average_vector\"]},\"filter\":{\"$ref\":\"#/components/schemas/"
    "Filter\"},\"limit\":{\"type\":\"integer\"},\"with_payload\":{\"$ref\":\"#/components/schemas/"
    "WithPayload\"}}},"
    "\"CollectionStats\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"points\":{\"type\":\"integer\"},\"dim\":{\"type\":\"integer\"},\"metric\":{\"type\":\"string\","
    "\"enum\":[\"l2\",\"ip\",\"cosine\"]},\"index\":{\"type\":\"object\",\"properties\":{\"kind\":"
    "{\"type\":\"string\",\"enum\":[\"flat\",\"hnsw\"]},\"m\":{\"type\":\"integer\"},"
    "\"ef_construction\":{\"type\":\"integer\"},\"ef_search\":{\"type\":\"integer\"}}},\"text\":"
    "{\"type\":\"object\",\"nullable\":true,\"properties\":{\"documents\":{\"type\":\"integer\"},"
    "\"terms\":{\"type\":\"integer\"},\"avg_length\":{\"type\":\"number\"}}},\"quantization\":"
    "{\"type\":\"object\",\"nullable\":true,\"properties\":{\"method\":{\"type\":\"string\"},"
    "\"code_bytes\":{\"type\":\"integer\"},\"rerank\":{\"type\":\"integer\"}}},\"memory_bytes\":"
    "{\"type\":\"integer\"},\"disk_bytes\":{\"type\":\"integer\"},\"payload_indexes\":{\"type\":"
    "\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"field\":{\"type\":\"string\"},"
    "\"type\":{\"type\":\"string\"}}}}}},"
    "\"HektorSearch\":{\"type\":\"object\",\"properties\":{\"vector\":{\"$ref\":\"#/components/"
    "schemas/Vector\"},\"text\":{\"type\":\"string\"},\"k\":{\"type\":\"integer\",\"default\":10},"
    "\"offset\":{\"type\":\"integer\"},\"filter\":{\"$ref\":\"#/components/schemas/Filter\"},\"ef\":"
    "{\"type\":\"integer\"},\"exact\":{\"type\":\"boolean\"},\"rerank\":{\"type\":\"integer\"},"
    "\"match\":{\"type\":\"string\",\"enum\":[\"any\",\"all\",\"phrase\"]},\"fusion\":{\"type\":"
    "\"object\",\"properties\":{\"method\":{\"type\":\"string\",\"enum\":[\"rrf\",\"convex\",\"dbsf\","
    "\"combsum\",\"combmnz\",\"borda\"]},\"k\":{\"type\":\"number\"},\"weight\":{\"type\":\"number\"},"
    "\"depth\":{\"type\":\"integer\"}}},\"expand\":{\"type\":\"object\",\"properties\":{\"method\":"
    "{\"type\":\"string\",\"enum\":[\"rm3\"]},\"fb_docs\":{\"type\":\"integer\"},\"fb_terms\":{\"type\":"
    "\"integer\"},\"weight\":{\"type\":\"number\"}}},\"embed\":{\"type\":\"boolean\"},\"embed_only\":"
    "{\"type\":\"boolean\"},\"with_payload\":{\"type\":\"boolean\"},\"with_vector\":{\"type\":\"boolean\"},"
    "\"with_text\":{\"type\":\"boolean\"},\"positive\":{\"type\":\"array\",\"items\":{\"$ref\":"
    "\"#/components/schemas/Id\"}},\"negative\":{\"type\":\"array\",\"items\":{\"$ref\":"
    "\"#/components/schemas/Id\"}},\"strategy\":{\"type\":\"string\",\"enum\":[\"average_vector\","
    "\"best_score\",\"rocchio\"]},\"rocchio\":{\"type\":\"object\",\"properties\":{\"alpha\":"
    "{\"type\":\"number\",\"default\":1},\"beta\":{\"type\":\"number\",\"default\":0.75},"
    "\"gamma\":{\"type\":\"number\",\"default\":0.15},\"max_new_terms\":{\"type\":\"integer\","
    "\"default\":10}}}}},"
    "\"Synonyms\":{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"},"
    "\"groups\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"string\"}}}}},"
    "\"SetSynonyms\":{\"type\":\"object\",\"description\":\"one of text or groups\",\"properties\":"
    "{\"text\":{\"type\":\"string\",\"description\":\"one group per line, words separated by "
    "commas\"},\"groups\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"string\"}}}}},"
    "\"EmbedTexts\":{\"type\":\"object\",\"required\":[\"texts\"],\"properties\":{\"texts\":{\"type\":"
    "\"array\",\"items\":{\"type\":\"string\"}}}},"
    "\"Embeddings\":{\"type\":\"object\",\"properties\":{\"dim\":{\"type\":\"integer\"},\"vectors\":"
    "{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Vector\"}},\"known_words\":{\"type\":"
    "\"array\",\"items\":{\"type\":\"integer\"}}}},"
    "\"HektorSearchResult\":{\"type\":\"object\",\"properties\":{\"points\":{\"type\":\"array\","
    "\"items\":{\"type\":\"object\",\"properties\":{\"id\":{\"$ref\":\"#/components/schemas/Id\"},"
    "\"score\":{\"type\":\"number\"},\"payload\":{\"$ref\":\"#/components/schemas/Payload\"},"
    "\"vector\":{\"$ref\":\"#/components/schemas/Vector\"},\"text\":{\"type\":\"string\"}}}},"
    "\"took_ms\":{\"type\":\"number\"}}},"
    "\"SnapshotUpload\":{\"type\":\"object\",\"required\":[\"snapshot\"],\"properties\":"
    "{\"snapshot\":{\"type\":\"string\",\"format\":\"binary\",\"description\":\"a snapshot "
    "file this server (or another HEKTOR) wrote\"}}},"
    "\"ImportFile\":{\"type\":\"string\",\"format\":\"binary\",\"description\":\"the file: fvecs, "
    "bvecs, npy, jsonl or csv as named by the format parameter\"},"
    "\"Job\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"kind\":{\"type\":"
    "\"string\",\"enum\":[\"import\",\"build\",\"quantize\",\"project\"]},\"collection\":{\"type\":\"string\"},"
    "\"state\":{\"type\":\"string\",\"enum\":[\"queued\",\"running\",\"done\",\"failed\","
    "\"cancelled\"]},\"progress\":{\"type\":\"number\"},\"done\":{\"type\":\"integer\"},\"total\":"
    "{\"type\":\"integer\"},\"message\":{\"type\":\"string\"},\"started\":{\"type\":\"number\","
    "\"nullable\":true},\"finished\":{\"type\":\"number\",\"nullable\":true},\"result\":{\"type\":"
    "\"object\",\"nullable\":true}}},"
    "\"JobEnvelope\":{\"type\":\"object\",\"properties\":{\"job\":{\"$ref\":\"#/components/schemas/"
    "Job\"}}},"
    "\"SnapshotDescription\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"creation_time\":{\"type\":\"string\"},\"size\":{\"type\":\"integer\"},\"checksum\":{\"type\":"
    "\"string\",\"nullable\":true}}},"
    "\"SnapshotList\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/"
    "SnapshotDescription\"}},"
    "\"SnapshotRecover\":{\"type\":\"object\",\"required\":[\"location\"],\"properties\":"
    "{\"location\":{\"type\":\"string\",\"description\":\"a snapshot's name, or file:///PATH of one "
    "under the database's snapshots directory\"},\"priority\":{\"type\":\"string\"}}},"
    "\"QueryRequest\":{\"type\":\"object\",\"properties\":{\"query\":{\"description\":\"a vector, "
    "{nearest: vector}, or {fusion: rrf} with prefetch\"},\"prefetch\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"object\",\"properties\":{\"query\":{\"description\":\"a vector, {nearest: vector} or "
    "{text: string} (BM25)\"},\"filter\":{\"$ref\":\"#/components/schemas/Filter\"},\"limit\":{\"type\":"
    "\"integer\"},\"params\":{\"type\":\"object\"}}}},\"filter\":{\"$ref\":\"#/components/schemas/"
    "Filter\"},\"limit\":{\"type\":\"integer\"},\"offset\":{\"type\":\"integer\"},\"params\":"
    "{\"type\":\"object\"},\"with_payload\":{\"$ref\":\"#/components/schemas/WithPayload\"},"
    "\"with_vector\":{\"type\":\"boolean\"},\"score_threshold\":{\"type\":\"number\"}}},"
    "\"QueryResponse\":{\"type\":\"object\",\"properties\":{\"points\":{\"$ref\":"
    "\"#/components/schemas/ScoredPointList\"}}},"
    "\"Quantize\":{\"type\":\"object\",\"required\":[\"method\"],\"properties\":{\"method\":"
    "{\"type\":\"string\",\"enum\":[\"sq8\",\"sq4\",\"pq\",\"opq\",\"int8\",\"auto\"]},\"pq_m\":"
    "{\"type\":\"integer\"},\"target_recall\":{\"type\":\"number\",\"description\":\"auto only\"},"
    "\"max_bytes\":{\"type\":\"number\",\"description\":\"auto only\"},\"sample\":{\"type\":"
    "\"integer\"},\"queries\":{\"type\":\"integer\"},\"k\":{\"type\":\"integer\"},"
    "\"pq_bits\":{\"type\":\"integer\",\"enum\":[4,8]},\"curve\":{\"type\":\"string\"},\"curve_param\":"
    "{\"type\":\"number\"},\"train_size\":{\"type\":\"integer\"},\"iterations\":{\"type\":\"integer\"},"
    "\"opq_iterations\":{\"type\":\"integer\"},\"seed\":{\"type\":\"integer\"},\"rerank\":{\"type\":"
    "\"integer\"},\"codebook\":{\"type\":\"string\"},\"replace\":{\"type\":\"boolean\"}}},"
    "\"BuildIndex\":{\"type\":\"object\",\"required\":[\"kind\"],\"properties\":{\"kind\":"
    "{\"type\":\"string\",\"enum\":[\"hnsw\",\"flat\"]},\"m\":{\"type\":\"integer\",\"minimum\":2,"
    "\"maximum\":128},\"ef_construction\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":65536}}},"
    "\"Codebook\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"method\":"
    "{\"type\":\"string\"},\"curve\":{\"type\":\"string\"},\"dim\":{\"type\":\"integer\"},\"metric\":"
    "{\"type\":\"string\"},\"code_bytes\":{\"type\":\"integer\"},\"compression\":{\"type\":\"number\"},"
    "\"trained_on\":{\"type\":\"integer\"},\"created\":{\"type\":\"integer\"}}},"
    "\"CodebookJson\":{\"type\":\"object\",\"description\":\"hk_codebook_to_json: the "
    "description, and with arrays every table (centres, scales, centroids, rotation)\"},"
    "\"CodebookUpload\":{\"type\":\"string\",\"format\":\"binary\",\"description\":\"an HKCB "
    "codebook file, or the JSON that GET with arrays=true answers (its result)\"},"
    "\"CodebookList\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Codebook\"}},"
    "\"Quality\":{\"type\":\"object\",\"properties\":{\"codebook\":{\"type\":\"string\",\"nullable\":"
    "true},\"method\":{\"type\":\"string\"},\"code_bytes\":{\"type\":\"integer\"},\"compression\":"
    "{\"type\":\"number\"},\"mse\":{\"type\":\"number\"},\"psnr\":{\"type\":\"number\"},\"ssim\":"
    "{\"type\":\"number\"},\"cosine_distortion\":{\"type\":\"number\"},\"recall\":{\"type\":\"number\"},"
    "\"recall_rerank\":{\"type\":\"number\"},\"per_dim_mse\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"number\"}}}},"
    "\"JobList\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Job\"}},"
    /* the 3-D vector space (projection.c) */
    "\"ProjectionRequest\":{\"type\":\"object\",\"properties\":{\"method\":{\"type\":\"string\","
    "\"enum\":[\"pca\",\"umap\"]},\"max_points\":{\"type\":\"integer\"},\"neighbors\":{\"type\":"
    "\"integer\"},\"seed\":{\"type\":\"integer\"},\"epochs\":{\"type\":\"integer\"},\"min_dist\":"
    "{\"type\":\"number\"}}},"
    "\"Projection\":{\"type\":\"object\",\"properties\":{\"method\":{\"type\":\"string\"},\"dims\":"
    "{\"type\":\"integer\"},\"count\":{\"type\":\"integer\"},\"total\":{\"type\":\"integer\"},"
    "\"sampled\":{\"type\":\"boolean\"},\"neighbors\":{\"type\":\"integer\"},\"seed\":{\"type\":"
    "\"integer\"},\"created\":{\"type\":\"integer\"},\"took_s\":{\"type\":\"number\"},\"stale\":"
    "{\"type\":\"boolean\"},\"bounds\":{\"type\":\"object\"},\"explained_variance\":{\"type\":"
    "\"array\",\"nullable\":true,\"items\":{\"type\":\"number\"}},\"quality\":{\"type\":\"object\","
    "\"properties\":{\"knn_preservation\":{\"type\":\"number\"}}}}},"
    "\"ProjectionNeighbors\":{\"type\":\"object\",\"properties\":{\"point\":{\"type\":\"object\"},"
    "\"neighbors\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"index\":"
    "{\"type\":\"integer\"},\"id\":{\"type\":\"integer\"},\"distance\":{\"type\":\"number\"}}}}}},"
    "\"ProjectionField\":{\"type\":\"object\",\"properties\":{\"field\":{\"type\":\"string\"},"
    "\"kind\":{\"type\":\"string\",\"enum\":[\"number\",\"category\"]},\"values\":{\"type\":"
    "\"array\",\"items\":{\"type\":\"number\",\"nullable\":true}},\"min\":{\"type\":\"number\"},"
    "\"max\":{\"type\":\"number\"},\"categories\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"string\"}},\"codes\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}}}";

/* Non-JSON answers and the content type each is served with. */
static const char *content_type(const char *schema) {
    if (!strcmp(schema, "Text")) return "text/plain";
    if (!strcmp(schema, "EventStream")) return "text/event-stream";
    if (!strcmp(schema, "File")) return "application/octet-stream";
    return NULL;
}

static int enveloped(const hks_route *rt) { return rt->fn != NULL; }

static void lower(hk_buf *b, const char *s) {
    for (; *s; s++) hk_buf_putc(b, (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s));
}

static void write_op(hk_buf *b, const hks_route *rt) {
    hk_buf_putc(b, '"');
    lower(b, rt->method);
    hk_buf_puts(b, "\":{\"summary\":");
    hj_write_string(b, rt->summary, strlen(rt->summary));
    hk_buf_puts(b, ",\"parameters\":[");
    int first = 1;
    for (const char *p = strchr(rt->path, '{'); p; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        if (!first) hk_buf_putc(b, ',');
        first = 0;
        hk_buf_puts(b, "{\"name\":");
        hj_write_string(b, p + 1, (size_t)(e - p - 1));
        hk_buf_puts(b, ",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}}");
    }
    if (rt->params) {
        for (const char *p = rt->params; *p;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (!first) hk_buf_putc(b, ',');
            first = 0;
            hk_buf_puts(b, "{\"name\":");
            hj_write_string(b, p, len);
            hk_buf_puts(b, ",\"in\":\"query\",\"required\":false,\"schema\":{\"type\":\"string\"}}");
            p += len + (e ? 1 : 0);
        }
    }
    hk_buf_puts(b, "]");
    if (rt->request) {
        int binary = !strcmp(rt->request, "ImportFile") || !strcmp(rt->request, "CodebookUpload");
        int multipart = !strcmp(rt->request, "SnapshotUpload");
        hk_buf_printf(b, ",\"requestBody\":{\"required\":true,\"content\":{\"%s\":{\"schema\":"
                      "{\"$ref\":\"#/components/schemas/%s\"}}}}",
                      binary      ? "application/octet-stream"
                      : multipart ? "multipart/form-data"
                                  : "application/json",
                      rt->request);
    }
    const char *ct = content_type(rt->response);
    hk_buf_puts(b, ",\"responses\":{\"200\":{\"description\":\"success\",\"content\":{");
    if (ct)
        hk_buf_printf(b, "\"%s\":{\"schema\":{\"$ref\":\"#/components/schemas/%s\"}}", ct,
                      rt->response);
    else if (enveloped(rt))
        hk_buf_printf(b, "\"application/json\":{\"schema\":{\"type\":\"object\",\"properties\":"
                      "{\"result\":{\"$ref\":\"#/components/schemas/%s\"},\"status\":{\"type\":"
                      "\"string\"},\"time\":{\"type\":\"number\"}}}}", rt->response);
    else
        hk_buf_printf(b, "\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/%s\"}}",
                      rt->response);
    hk_buf_puts(b, "}},\"default\":{\"description\":\"an error naming the problem\",\"content\":"
                   "{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Error\"}}}}}}");
}

void hks_openapi_write(hk_buf *b) {
    const struct {
        const hks_route *routes;
        size_t n;
    } tables[] = {{hks_service_routes, hks_service_nroutes}, {qd_routes, qd_nroutes},
                  {hkr_routes, hkr_nroutes}};
    size_t ntables = sizeof tables / sizeof *tables;
    hk_buf_puts(b, "{\"openapi\":\"3.0.3\",\"info\":{\"title\":\"HEKTOR\",\"version\":\"" HEKTOR_VERSION
                   "\",\"description\":\"Qdrant-compatible REST routes and HEKTOR's own under "
                   "/hektor/ (docs/SERVER.md).\"},\"components\":{\"securitySchemes\":{\"apiKey\":"
                   "{\"type\":\"apiKey\",\"in\":\"header\",\"name\":\"api-key\"},\"bearer\":{\"type\":"
                   "\"http\",\"scheme\":\"bearer\"}},\"schemas\":{");
    hk_buf_puts(b, k_schemas);
    hk_buf_puts(b, "}},\"security\":[{},{\"apiKey\":[]},{\"bearer\":[]}],\"paths\":{");
    int first = 1;
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++) {
            const char *path = tables[t].routes[i].path;
            /* One path object per template, holding every method on it. */
            int seen = 0;
            for (size_t t2 = 0; t2 <= t && !seen; t2++)
                for (size_t j = 0; j < (t2 == t ? i : tables[t2].n) && !seen; j++)
                    seen = !strcmp(tables[t2].routes[j].path, path);
            if (seen) continue;
            if (!first) hk_buf_putc(b, ',');
            first = 0;
            hj_write_string(b, path, strlen(path));
            hk_buf_putc(b, ':');
            hk_buf_putc(b, '{');
            int firstop = 1;
            for (size_t t2 = t; t2 < ntables; t2++)
                for (size_t j = 0; j < tables[t2].n; j++) {
                    const hks_route *rt = &tables[t2].routes[j];
                    if (strcmp(rt->path, path)) continue;
                    if (!firstop) hk_buf_putc(b, ',');
                    firstop = 0;
                    write_op(b, rt);
                }
            hk_buf_putc(b, '}');
        }
    hk_buf_puts(b, "}}");
}
