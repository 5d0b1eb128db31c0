/* demo.h - loading the demo users and example workflows (serve --demo). */
#ifndef SP_SERVE_DEMO_H
#define SP_SERVE_DEMO_H

#include "engine/engine.h"

void demo_load(engine *e, const principal *admin, const char *examples_dir);

#endif
