// reference.cpp: produces the golden test data in internal/dlib/testdata/golden from dlib's
// own code (Debian's libdlib-dev 19.24): the HOG frontal face detector, the 5-point shape
// predictor, get_face_chip_details(shape, 150, 0.25) + extract_image_chip, and the face
// recognition ResNet exactly as in dlib's examples/dnn_face_recognition_ex.cpp.
//
// Built and run by hack/make-dlib-golden.sh; see internal/dlib/testdata/golden/README.md.
//
// Usage: reference MODELS_DIR OUT_DIR < MANIFEST
// MANIFEST lines, tab separated:  KIND  IMAGE  PNG  SCALE  PERSON
//   KIND   photo   (faces/*.jpg) or john (a johns crop): HOG boxes recorded; every face HOG
//                    finds at the original size becomes a golden face
//          johnbox (johns crop: HOG boxes recorded only)
//          scaled  (an integer-upsampled copy of IMAGE: faces HOG finds at this size become
//                    golden faces with "imageScale": SCALE; no hogBoxes entry)
//   IMAGE  the JPEG's path relative to the test-face directory (only written to the JSON)
//   PNG    the RGB PNG the Go program topng decoded from that JPEG (and scaled); dlib reads
//          only this, never the JPEG
//   SCALE  1, or the pixel replication factor of a "scaled" input
//   PERSON the John's name, or "-"
// Writes OUT_DIR/golden.json and OUT_DIR/chips/NN.png.

#include <dlib/dnn.h>
#include <dlib/image_io.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/revision.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace dlib;
using namespace std;

// ---- The network, verbatim from dlib's examples/dnn_face_recognition_ex.cpp ----

template <template <int,template<typename>class,int,typename> class block, int N, template<typename>class BN, typename SUBNET>
using residual = add_prev1<block<N,BN,1,tag1<SUBNET>>>;

template <template <int,template<typename>class,int,typename> class block, int N, template<typename>class BN, typename SUBNET>
using residual_down = add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,BN,2,tag1<SUBNET>>>>>>;

template <int N, template <typename> class BN, int stride, typename SUBNET>
using block  = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>;

template <int N, typename SUBNET> using ares      = relu<residual<block,N,affine,SUBNET>>;
template <int N, typename SUBNET> using ares_down = relu<residual_down<block,N,affine,SUBNET>>;

template <typename SUBNET> using alevel0 = ares_down<256,SUBNET>;
template <typename SUBNET> using alevel1 = ares<256,ares<256,ares_down<256,SUBNET>>>;
template <typename SUBNET> using alevel2 = ares<128,ares<128,ares_down<128,SUBNET>>>;
template <typename SUBNET> using alevel3 = ares<64,ares<64,ares<64,ares_down<64,SUBNET>>>>;
template <typename SUBNET> using alevel4 = ares<32,ares<32,ares<32,SUBNET>>>;

using anet_type = loss_metric<fc_no_bias<128,avg_pool_everything<
                            alevel0<
                            alevel1<
                            alevel2<
                            alevel3<
                            alevel4<
                            max_pool<3,3,2,2,relu<affine<con<32,7,7,2,2,
                            input_rgb_image_sized<150>
                            >>>>>>>>>>>>;

// ---------------------------------------------------------------------------------------

static string fmt(const char* f, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, f, v);
    return buf;
}

static string rect_json(const rectangle& r)
{
    ostringstream s;
    s << "[" << r.left() << ", " << r.top() << ", " << r.right() << ", " << r.bottom() << "]";
    return s.str();
}

struct detection { rectangle box; double confidence; unsigned long weight_index; };

// HOG detection. upsample: run on pyramid_up(img) (pyramid_down<2>, as dlib's
// face_detection_ex.cpp does) and map each box back with pyramid_down<2>::rect_down, which
// yields a drectangle, rounded to a rectangle by drectangle's operator rectangle
// (floor(x+0.5) per coordinate).
static std::vector<detection> detect(frontal_face_detector& det, const matrix<rgb_pixel>& img, bool upsample)
{
    std::vector<rect_detection> dets;
    std::vector<detection> out;
    if (upsample)
    {
        matrix<rgb_pixel> up = img;
        pyramid_down<2> pyr;
        pyramid_up(up, pyr);
        det(up, dets);
        for (auto& d : dets)
            out.push_back({rectangle(pyr.rect_down(drectangle(d.rect))), d.detection_confidence, d.weight_index});
    }
    else
    {
        det(img, dets);
        for (auto& d : dets)
            out.push_back({d.rect, d.detection_confidence, d.weight_index});
    }
    return out;
}

static string boxes_json(const std::vector<detection>& ds)
{
    ostringstream s;
    s << "[";
    for (size_t i = 0; i < ds.size(); ++i)
        s << (i ? ", " : "") << rect_json(ds[i].box);
    s << "]";
    return s.str();
}

static string scores_json(const std::vector<detection>& ds)
{
    ostringstream s;
    s << "[";
    for (size_t i = 0; i < ds.size(); ++i)
        s << (i ? ", " : "") << fmt("%.9g", ds[i].confidence);
    s << "]";
    return s.str();
}

// The pyramid level extract_image_chips (dlib/image_transforms/interpolation.h) picks for a
// chip: -1 = bilinear straight from the image, k >= 0 = from pyramid_down<2> level k+1.
static int chip_level(const chip_details& c)
{
    pyramid_down<2> pyr;
    int level = -1;
    drectangle rect = c.rect;
    while (pyr.rect_down(rect).area() > c.size())
    {
        ++level;
        rect = pyr.rect_down(rect);
    }
    return level;
}

int main(int argc, char** argv) try
{
    if (argc != 3)
    {
        cerr << "usage: reference MODELS_DIR OUT_DIR < MANIFEST\n";
        return 2;
    }
    const string models = argv[1], outdir = argv[2];

    frontal_face_detector detector = get_frontal_face_detector();
    shape_predictor sp;
    deserialize(models + "/shape_predictor_5_face_landmarks.dat") >> sp;
    anet_type net;
    deserialize(models + "/dlib_face_recognition_resnet_model_v1.dat") >> net;

    std::vector<string> faces_json, hog_json;
    struct summary { string image, person; int scale; matrix<float,0,1> desc; };
    std::vector<summary> done;
    string line;
    int n = 0;
    while (getline(cin, line))
    {
        if (line.empty()) continue;
        istringstream ls(line);
        string kind, image, png, person;
        int scale = 1;
        getline(ls, kind, '\t'); getline(ls, image, '\t'); getline(ls, png, '\t');
        string s; getline(ls, s, '\t'); scale = stoi(s);
        getline(ls, person, '\t');

        matrix<rgb_pixel> img;
        load_png(img, png);
        cerr << kind << " " << image << " x" << scale << " (" << img.nc() << "x" << img.nr() << ")\n";

        std::vector<detection> faces;
        if (kind == "scaled")
        {
            faces = detect(detector, img, false);
        }
        else
        {
            auto up = detect(detector, img, true);
            auto orig = detect(detector, img, false);
            ostringstream h;
            h << "    {\"image\": \"" << image << "\", \"width\": " << img.nc() << ", \"height\": " << img.nr()
              << ",\n     \"boxes\": " << boxes_json(orig) << ",\n     \"scores\": " << scores_json(orig)
              << ",\n     \"boxesUpsampled\": " << boxes_json(up) << ",\n     \"scoresUpsampled\": " << scores_json(up)
              << "}";
            hog_json.push_back(h.str());
            if (kind == "johnbox") continue;
            faces = orig;
        }

        for (auto& d : faces)
        {
            full_object_detection shape = sp(img, d.box);
            chip_details cd = get_face_chip_details(shape, 150, 0.25);
            matrix<rgb_pixel> chip;
            extract_image_chip(img, cd, chip);

            char name[32];
            snprintf(name, sizeof name, "chips/%02d.png", n);
            save_png(chip, outdir + "/" + name);
            matrix<rgb_pixel> reread;
            load_png(reread, outdir + "/" + name);
            if (reread.nr() != chip.nr() || reread.nc() != chip.nc())
                throw error("re-read chip has a different size");
            for (long r = 0; r < chip.nr(); ++r)
                for (long c = 0; c < chip.nc(); ++c)
                    if (reread(r,c) != chip(r,c))
                        throw error("re-read chip differs from the extracted one");

            // One chip per forward pass, from the pixels as re-read from the PNG.
            matrix<float,0,1> desc = net(reread);

            ostringstream f;
            f << "    {\"image\": \"" << image << "\", \"imageScale\": " << scale;
            if (person != "-" && !person.empty()) f << ", \"person\": \"" << person << "\"";
            f << ",\n     \"box\": " << rect_json(d.box) << ", \"score\": " << fmt("%.9g", d.confidence)
              << ", \"detector\": " << d.weight_index << ",\n     \"parts\": [";
            for (unsigned long i = 0; i < shape.num_parts(); ++i)
                f << (i ? ", " : "") << "[" << shape.part(i).x() << ", " << shape.part(i).y() << "]";
            f << "],\n     \"chip\": {\"left\": " << fmt("%.17g", cd.rect.left()) << ", \"top\": " << fmt("%.17g", cd.rect.top())
              << ", \"right\": " << fmt("%.17g", cd.rect.right()) << ", \"bottom\": " << fmt("%.17g", cd.rect.bottom())
              << ", \"angle\": " << fmt("%.17g", cd.angle) << ", \"rows\": " << cd.rows << ", \"cols\": " << cd.cols << "}"
              << ", \"chipPyramidLevel\": " << chip_level(cd)
              << ",\n     \"chipFile\": \"" << name << "\", \"descriptorFromPNG\": true,\n     \"descriptor\": [";
            for (long i = 0; i < desc.size(); ++i)
                f << (i ? ", " : "") << fmt("%.9g", desc(i));
            f << "]}";
            faces_json.push_back(f.str());
            done.push_back({image, person, scale, desc});
            ++n;
        }
    }

    ofstream out(outdir + "/golden.json");
    out << "{\n  \"dlibVersion\": \"" << DLIB_MAJOR_VERSION << "." << DLIB_MINOR_VERSION << "\",\n  \"faces\": [\n";
    for (size_t i = 0; i < faces_json.size(); ++i)
        out << faces_json[i] << (i + 1 < faces_json.size() ? ",\n" : "\n");
    out << "  ],\n  \"hogBoxes\": [\n";
    for (size_t i = 0; i < hog_json.size(); ++i)
        out << hog_json[i] << (i + 1 < hog_json.size() ? ",\n" : "\n");
    out << "  ]\n}\n";
    if (!out) throw error("writing golden.json failed");
    cerr << n << " faces\n";

    // Sanity: descriptors of the same John closer than 0.6 (dlib's threshold, Euclidean),
    // different Johns farther; a scaled copy's face close to the original's.
    double same_max = 0, diff_min = 1e9;
    for (size_t i = 0; i < done.size(); ++i)
        for (size_t j = i + 1; j < done.size(); ++j)
        {
            if (done[i].person == "-" || done[j].person == "-" || done[i].scale != 1 || done[j].scale != 1) continue;
            const double d = length(done[i].desc - done[j].desc);
            if (done[i].person == done[j].person) same_max = std::max(same_max, d);
            else diff_min = std::min(diff_min, d);
        }
    cerr << "johns: largest same-person distance " << same_max << ", smallest different-person distance " << diff_min << "\n";
    bool ok = same_max < 0.6 && diff_min > 0.6;
    for (auto& a : done)
    {
        if (a.scale == 1) continue;
        double best = 1e9;
        for (auto& b : done)
            if (b.scale == 1 && b.image == a.image) best = std::min(best, (double)length(a.desc - b.desc));
        if (best < 1e9)
        {
            cerr << a.image << " x" << a.scale << ": distance to the original-size face " << best << "\n";
            ok = ok && best < 0.3;
        }
    }
    if (!ok)
    {
        cerr << "reference: sanity check failed\n";
        return 1;
    }
    return 0;
}
catch (std::exception& e)
{
    cerr << "reference: " << e.what() << endl;
    return 1;
}
