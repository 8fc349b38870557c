package store_test

const writerEnv = "FACESEARCH_STORE_TEST_WRITER"

func runWriter() int { return 0 }
