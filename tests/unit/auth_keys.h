/*
 * auth_keys.h - fixed keys for the auth unit tests (test data only: never use them
 * anywhere else). Generated once with openssl genpkey / req; the public halves the
 * tests need are derived from these at run time.
 */
#ifndef STRATA_TEST_AUTH_KEYS_H
#define STRATA_TEST_AUTH_KEYS_H

static const char TEST_KEY_A[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCjo+PxVHy+lCnx\n"
    "vMBaGlbMNjUih6836tfckCRQ/RlDDmpIxa1NVTBA6nvDO8puuhkW1cl3CYl3zu5c\n"
    "ygP0/f4899IrvNqhLilc1n+9+QziCC21m2wcBmWYMAalmc33SFtCd0hQ42akBA9p\n"
    "bAnCC8GB2EWyTPor09cRo5q3q864YwQIV6xrX5bur3ZkhsWaugK1i5fdTxfjXdjl\n"
    "dCgwiBPiQLlP1eWsQx2eLmIL2lgc6+pbkFr2VEf5Fg/VLBdcSJX+rOee7HXrOY4z\n"
    "31sjTPJipM47clYDrwb19fLuZZiUEYElMRG9OcssCtTmP7MNgASdOgaqioLEAJEv\n"
    "XUgAYrLlAgMBAAECggEAKBIJzx6RLVm6q6c8stOgTYE4oav4DAlFsozZV7uiY/kz\n"
    "rX46YaVqm3rPs48AkvyfCChxnOSI9P2HANG3Blbr2qIUpQEpyC41krYzsaE6tl6q\n"
    "Ur4sSvCGEC4ycnqnJNZjAnOTEbuddqxH2djKyul2CQWci3yuBe1pzLfzOuanSB8S\n"
    "YIRvdiX2d5tntyE7R+2F69cVQx+TSUuR+kh/um5+NUe5N2MX0Xqf4XtDLq0jB+Q5\n"
    "guF/wGvxy9wdbo1eofttddPIUB7c+p0AetiBw65v0vuiLDYxVaMFIIEaI221D9tI\n"
    "BZBGoUeZCqzFZbJVZ9sYlX5PH9fUFqJ59JFJfSryAQKBgQDdfpshK/+6KabYYn6y\n"
    "sQdUHd50jNmATZlip1/x0MLhSyWP+LwCX8LzYXZLCb7tP87J1eE7nCJqZUGNP6tV\n"
    "mCRWZMOz2AQib+s0GtD0htttISb55YSTXI5ArnxUt/SJyfVDJ5T6WjMW4VjOWHkU\n"
    "Nkg2FJnW+5CXPPA/G93MPKqy6QKBgQC9IgCxG890KZDsUw2mjCRLqt3ev6oRcg2I\n"
    "x/5bl3CTxjrVozhGAGbgBq/ZFT6czzcjeL8pBUU6W7Y+hYGRSDFGN6A8IzAX3GQg\n"
    "CNVITI1I/3VTD9xxjguscb6d4pmBLF67jW30ZRipR8uMQdkTUfpJzW3U2X1Nj+Rp\n"
    "MKurhJrqnQKBgQCTk9Gkrn46+ZmTPz0PrmgloakgmuAoXou+caq5odDW74zdems6\n"
    "YbexFdUNdjbiOMt9K6ZgY02C+mhMxolQBIjhj03dvCY1E8Dw/JUQ9/Gnqpkfk89b\n"
    "qCWX7yokAFVMoWVrEypuDD9SFV9oTQaPcwN2FQ/Tb9YNDqs8QULs29cYUQKBgFF2\n"
    "h93BIMXj8WwZCdQmoKuG2THMVDBXc8Tqf4Br5i2AQG8sclyUZ7supidWozVfe1xn\n"
    "8c51WrAcOI8NahVthuu7oeTFMz3Ty7yQkW0mq+Q5RAuW1ViD2jtYcsYGiB+/QL5/\n"
    "2FBgCxM+vUmYQyuzL58CQMBhPTtfMv6r3AVwhFlxAoGAbs2hPEzGaxYY96aPo6+c\n"
    "iveaJYyZo5hAAWFy8g/d0iTdmunrb2AmY+ZgoX08CZ10pidlVbi+EEOtPVOLu1w+\n"
    "jkKIax3K1od6vWjeR5tFNHxwyD+VM1qEAqq/BOP2pipeLaf4ysSDZCQmISbbIU+z\n"
    "8T35nS92EMw46waXyVOP7ps=\n"
    "-----END PRIVATE KEY-----\n";

static const char TEST_KEY_B[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDEFYjouJGS2+HL\n"
    "vyaQVC3chYmyoiyv91/zj7lDo+A/4U6UtDXW8Q52ZqRNIgC7q8UlIHU3FBe8S4o4\n"
    "lHpFMySBTJqr+FjL8xo3GvjM1dZYyuebpVXywjZaeZfImxUwZQ6g+1vfCJhy8yu0\n"
    "P7/FPioWJa8VxX78FeETMiGXCUDAi18PMMdMIptwBgJAL6IAZzMpIlq1ZskKxsTz\n"
    "uyfELX1+w0ofeYZmnM/h6HcWjUAYd+OLOYmNOcIvvbPdRTMr/IJt3lQj1x7EMcV2\n"
    "5w2sPVd9CWwZN3kUXtiPVFes9prq3lEFALAX0qJqbB+wp7e8FsJ0e2RkvXvc3iAp\n"
    "cpAk6kS7AgMBAAECggEAGz6qwTsz7uXiX771isRHgwaC9XEXKHQEvwDPSxiwBfA2\n"
    "TO8lM/JWghkM5zK8S1c4k0oJP1fpXF5anDX1LzxF7DlKnG5rWBs1H0b+HufvWnMG\n"
    "71dvs8VMbBHNBzCVJx5DhBao0zqMhBxJjEf3S16x1lXyF+JTHI+lsFcc17GPb7Ev\n"
    "S5lQ1Fj+WjjltJsLKXB66B0acqXbHWSaK5eNu1BxuAvogrCT9KurzO8YU9Jp0bbr\n"
    "S/L5HWracue7sAVQ2IpNiFZF3gWLNKMlb2mnWcHiiYoqISv0AL7L8uXTXAwo5f83\n"
    "AuAu8Xs2hEbCvU6092U9P168i5PIBaCRt888eRMbYQKBgQD0Ru8yG0hpiIrOhmOQ\n"
    "Ek+sR7GBKjfP9ZKYWqoJwcpCWLmKexo/2JS4iGikNWjT17/LelFA3YUftN+MvfOj\n"
    "5q+d/6CMLFpIXsHMBk1HAr198wKIgBuxMCvuuzOXoR639tBtUrVTlpjEqWLG0UAd\n"
    "KIUMxFl5oTFzNr50e/HI4w0qswKBgQDNfoad+L47CPUMGZYZVqCZBnAL/Gpa4dIS\n"
    "KnoOIQa1ikz6418lHv6TXl2ooKEkyP3mKyhaN9TM006lTUimxwoJaOe/ow0/0O7R\n"
    "1y8JTqibFme4farmoLRT4XXB9idAgpXt+7/BcOp5Z2ATixSMoR0wo3tgRM2MksPe\n"
    "8iEEMsAh2QKBgQCeKywIUrghdUMDlOr0x5aFI+rgiriW1Bi2w8XkCXHwYcjJzQnj\n"
    "G1a44cJ3yQl2WfWbSDlCee0P6aryU7BliSJfeLy45qMSxyBO/imdeD3ARtB2GBVW\n"
    "Nq3Lp7UxUic00QCGOQ6l8BY9CLynpagQ+UKlUKHq6p+9TU4m2HZnL/U/lwKBgQDJ\n"
    "+Rga4EcpAw7HC8bptKk4folWXouyM84jqLg6dt9/QyWSWjRD6gjRk6h+exKncx2K\n"
    "QtTwh3uSrgXYlvNXaL5GrWNKidoV5Sc1/Efw3+z8MbNUM7/r2fwjjbAOKgA+eZsf\n"
    "Q5cfa/opxR87VjGmXxyvl59F6ZoWFpKJ6HXnCHKrUQKBgAaq1ODC7CCpRWhWZ+O9\n"
    "fk+OIL3p3OFacgfKwMM8hqDHF1dSQVJ65u9v8Wbbisg8aQHIxxHo0sGtFYXcyemy\n"
    "4m32gmoZJ+q6h77kLaJh0QqQPtRkmy17XMwDSDCCcKBhGUwb6N30Tm7tGT51Uz5X\n"
    "KokKK6Ata5Tm30DQCNp0FrY+\n"
    "-----END PRIVATE KEY-----\n";

static const char TEST_PUB_SMALL[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCzPrSNwlZAFs9gUz7lJLXu2pVU\n"
    "pWYJeYLhdRIuOxwHtwmTkLEagM6jPoIwPcphRwxaq+Fn62duqaa4L/ahJpDXLWDe\n"
    "6DQYVeSvoUY+3w43N4Ado10sbJrVwBwZgMBnx2vOU37hj07Uk973MShtLZBB4XWo\n"
    "ZgV0Uaa6+Ib/9Z1vNwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

static const char TEST_PUB_EC[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE3WoDD63fM1HeqWk0vTOs90YKQma4\n"
    "q69/HF0rAd537viBlgfBHsxYbrMM3s4I0NGmjejkYnrkyA8EcTLQxkjYVA==\n"
    "-----END PUBLIC KEY-----\n";

static const char TEST_PUB_A_PKCS1[] =
    "-----BEGIN RSA PUBLIC KEY-----\n"
    "MIIBCgKCAQEAo6Pj8VR8vpQp8bzAWhpWzDY1IoevN+rX3JAkUP0ZQw5qSMWtTVUw\n"
    "QOp7wzvKbroZFtXJdwmJd87uXMoD9P3+PPfSK7zaoS4pXNZ/vfkM4ggttZtsHAZl\n"
    "mDAGpZnN90hbQndIUONmpAQPaWwJwgvBgdhFskz6K9PXEaOat6vOuGMECFesa1+W\n"
    "7q92ZIbFmroCtYuX3U8X413Y5XQoMIgT4kC5T9XlrEMdni5iC9pYHOvqW5Ba9lRH\n"
    "+RYP1SwXXEiV/qznnux16zmOM99bI0zyYqTOO3JWA68G9fXy7mWYlBGBJTERvTnL\n"
    "LArU5j+zDYAEnToGqoqCxACRL11IAGKy5QIDAQAB\n"
    "-----END RSA PUBLIC KEY-----\n";

static const char TEST_CERT_A[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIC/TCCAeWgAwIBAgIURhrmSFSrgLKE935pT9A+2uVS9eowDQYJKoZIhvcNAQEL\n"
    "BQAwDjEMMAoGA1UEAwwDand0MB4XDTI2MTEyMTAyMjU1N1oXDTM2MTExODAyMjU1\n"
    "N1owDjEMMAoGA1UEAwwDand0MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKC\n"
    "AQEAo6Pj8VR8vpQp8bzAWhpWzDY1IoevN+rX3JAkUP0ZQw5qSMWtTVUwQOp7wzvK\n"
    "broZFtXJdwmJd87uXMoD9P3+PPfSK7zaoS4pXNZ/vfkM4ggttZtsHAZlmDAGpZnN\n"
    "90hbQndIUONmpAQPaWwJwgvBgdhFskz6K9PXEaOat6vOuGMECFesa1+W7q92ZIbF\n"
    "mroCtYuX3U8X413Y5XQoMIgT4kC5T9XlrEMdni5iC9pYHOvqW5Ba9lRH+RYP1SwX\n"
    "XEiV/qznnux16zmOM99bI0zyYqTOO3JWA68G9fXy7mWYlBGBJTERvTnLLArU5j+z\n"
    "DYAEnToGqoqCxACRL11IAGKy5QIDAQABo1MwUTAdBgNVHQ4EFgQUdLZiZ4hffBbD\n"
    "LSVEzydqfMaedLAwHwYDVR0jBBgwFoAUdLZiZ4hffBbDLSVEzydqfMaedLAwDwYD\n"
    "VR0TAQH/BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAA56fNcGhtrubLn5BiDok\n"
    "NnliB8XwX9UoLH4wQNTsFj2KMS1QgVKeT1DsvTgNPG1Z4qhns0ShCiqtgnhRdIY2\n"
    "ykOxPW8MpAmeJm9UGtdYdKxegxEu3FsL1DAjde+hB1QF/rd8HTpF8GnfjkfKNIiG\n"
    "JGdx1DwgCrC+OqP8kzfjV4fRdqqYBu/uowJpx4TKCccMkBK12kwaxV44oRllOBa2\n"
    "HGhuipRyNmNeLh9ipPh9VfFIEZqQ3YOrP+KE/VNGwnml4GNGqa7Y5uc59NZA2+x2\n"
    "TSG9Sb2AEb5bTJ6aSt393NNQbO2aEZ+LTYTKdMo7aqYmLySsKYVo0aQM7DMbdCMN\n"
    "8Q==\n"
    "-----END CERTIFICATE-----\n";

#endif
